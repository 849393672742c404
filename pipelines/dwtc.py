"""Dubai World Trade Centre.

Monthly JSON-lines export from its SAP system, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import SAP_JSONL

PIPELINE = Pipeline(
    department="DWTC",
    source=FileDrop("DWTC_*.jsonl"),
    format=SAP_JSONL,
)
