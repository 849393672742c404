"""Dubai Land Department.

Paged JSON export API, pulled incrementally by sequence number.
"""

from bawaba.ingest.declarations import HttpExport, Pipeline

from ._vendors import REST_JSON

PIPELINE = Pipeline(
    department="DLD",
    source=HttpExport("/departments/DLD/records"),
    format=REST_JSON.renamed({"account_number": "title_deed_no"}),
)
