"""General Directorate of Residency and Foreign Affairs.

Monthly Parquet extract from its data warehouse, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import WAREHOUSE_PARQUET

PIPELINE = Pipeline(
    department="GDRFA",
    source=FileDrop("GDRFA_*.parquet"),
    format=WAREHOUSE_PARQUET,
)
