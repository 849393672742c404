"""Dubai Silicon Oasis Authority.

Monthly JSON-lines export from its SAP system, dropped in its landing folder.
"""

from bawaba.ingest.declarations import FileDrop, Pipeline

from ._vendors import SAP_JSONL

PIPELINE = Pipeline(
    department="DSO",
    source=FileDrop("DSO_*.jsonl"),
    format=SAP_JSONL,
)
