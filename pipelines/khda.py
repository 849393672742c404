"""Knowledge and Human Development Authority.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="KHDA",
    source=HttpExport("/departments/KHDA/records"),
    format=REST_JSON,
)
