"""Dubai Statistics Center.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="DSC",
    source=HttpExport("/departments/DSC/records"),
    format=REST_JSON,
)
