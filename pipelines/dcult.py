"""Dubai Culture and Arts Authority.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="DCULT",
    source=HttpExport("/departments/DCULT/records"),
    format=REST_JSON,
)
