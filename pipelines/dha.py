"""Dubai Health Authority.

Monthly Parquet extract from its data warehouse, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import WAREHOUSE_PARQUET

PIPELINE = Pipeline(
    department="DHA",
    source=FileDrop("DHA_*.parquet"),
    format=WAREHOUSE_PARQUET,
)
