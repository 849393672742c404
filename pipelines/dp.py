"""Dubai Police.

Monthly CSV export (Arabic headers) from its Oracle e-Business system, dropped in its landing
folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import ORACLE_CSV_AR

PIPELINE = Pipeline(
    department="DP",
    source=FileDrop("DP_*.csv"),
    format=ORACLE_CSV_AR,
)
