"""Dubai Chamber of Commerce and Industry.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="DCCI",
    source=HttpExport("/departments/DCCI/records"),
    format=REST_JSON,
)
