"""The credentials a route takes, declared for the OpenAPI document: an API key header and
OAuth2 client credentials (a bearer token from ``POST /oauth/token``).

The gatekeeper (``bawaba.api.gatekeeper``) authenticates every request before routing, so
these dependencies only declare: they never refuse (``auto_error=False``) and read nothing
the gatekeeper has not already checked. ``KEY_OPTIONAL`` marks a route that answers
anonymous callers too (the open tier), so clients and fuzzers know a key is welcome there
but not needed.
"""

from __future__ import annotations

from typing import Any

from fastapi import Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import APIKeyHeader, OAuth2

API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="apiKey",
    description="A key from `bawaba keys create`; see /plans for what each plan reads.",
    auto_error=False,
)
CLIENT_CREDENTIALS = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token")),
    scheme_name="oauth2",
    description="A bearer token from POST /oauth/token: the key's id as client_id, the key "
    "as client_secret.",
    auto_error=False,
)

KEYED = [Security(API_KEY), Security(CLIENT_CREDENTIALS)]
"""Route dependencies: the route reads either credential (one is enough)."""

KEY_OPTIONAL: dict[str, Any] = {"security": [{}]}
"""``openapi_extra`` for a keyed route that answers without credentials too."""
