"""Dubai Maritime City Authority.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="DMCA",
    source=HttpExport("/departments/DMCA/records"),
    format=REST_JSON,
)
