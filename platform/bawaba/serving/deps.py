"""What a route asks FastAPI for: the app's services, and the dataset a path names.

Every router (the API's, the portal's, the ecosystem formats') declares these in its
signature instead of reaching into the request by hand.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.requests import Request

DatasetId = Annotated[
    str,
    Path(description="The dataset's id, as listed by /api/v1/datasets.", examples=["epay-annual"]),
]


def base_url(request: Request) -> str:
    """Where this server is reached, as the caller reached it: the root of every link."""
    return str(request.base_url).rstrip("/")
