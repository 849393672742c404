"""Dubai Customs.

Monthly Parquet extract from its data warehouse, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import WAREHOUSE_PARQUET

PIPELINE = Pipeline(
    department="DCUS",
    source=FileDrop("DCUS_*.parquet"),
    format=WAREHOUSE_PARQUET.renamed({"account_number": "DECLARANT_ACCOUNT"}),
)
