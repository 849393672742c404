"""The credentials a route takes, declared for the OpenAPI document: an API key header and
OAuth2 client credentials (a bearer token from ``POST /oauth/token``).

The gatekeeper (``bawaba.api.gatekeeper``) authenticates every request before routing, so
these are declarations only (``openapi_extra``), not dependencies: FastAPI's security
dependencies would read the same headers again on every request, and cost a third of a
small answer's time. ``bawaba.api.openapi`` adds ``SCHEMES`` to the document's components.
"""

from __future__ import annotations

from typing import Any

SCHEMES: dict[str, Any] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key from `bawaba keys create`; see /plans for what each plan reads.",
    },
    "oauth2": {
        "type": "oauth2",
        "description": "A bearer token from POST /oauth/token: the key's id as client_id, "
        "the key as client_secret.",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
    },
}

KEYED: dict[str, Any] = {"security": [{name: []} for name in SCHEMES]}
"""``openapi_extra`` of a route that needs a key (either credential is enough)."""

KEY_OPTIONAL: dict[str, Any] = {"security": [*KEYED["security"], {}]}
"""``openapi_extra`` of a route that reads a key but answers anonymous callers too (the
open tier): a key is welcome there but not needed."""
