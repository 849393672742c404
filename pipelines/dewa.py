"""Dubai Electricity and Water Authority.

Monthly Parquet extract from its data warehouse, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import WAREHOUSE_PARQUET

PIPELINE = Pipeline(
    department="DEWA",
    source=FileDrop("DEWA_*.parquet"),
    format=WAREHOUSE_PARQUET.renamed({"account_number": "CONTRACT_ACCOUNT"}),
)
