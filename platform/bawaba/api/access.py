"""Who may read what. The open tier is free for everyone; premium data needs a key.

Every data path asks ``require_read`` before it touches a file, so a premium dataset cannot
be served by a path that forgot to check.
"""

from __future__ import annotations

from starlette.requests import Request

from bawaba.api.problems import Unauthorised
from bawaba.catalog.model import Dataset

SUBSCRIBE_HINT = (
    "premium datasets need a key: subscribe to a plan (an administrator runs "
    "`bawaba keys create --org NAME --plan business`) and send it as X-API-Key, or as "
    "Authorization: Bearer with a token from POST /oauth/token"
)


def require_read(request: Request, dataset: Dataset) -> None:
    if dataset.tier == "open":
        return
    raise Unauthorised(f"{dataset.id!r} is a premium dataset", hint=SUBSCRIBE_HINT)
