"""The CKAN paths' side of the platform's gate, an ASGI middleware outside the gatekeeper.

CKAN clients send a key bare, as ``Authorization: <key>`` and ``X-CKAN-API-Key: <key>``
(``ckanapi`` sends both). The gatekeeper authenticates every request before routing and
knows only ``X-API-Key`` and ``Authorization: Bearer``, so on the CKAN paths this moves a
bare key to ``X-API-Key`` first; keys, plans, limits and quotas stay the gatekeeper's.

Whatever the gatekeeper refuses on these paths (a key that is not valid, a rate limit, a
spent quota) it answers in the open API's error shape; this turns such an answer into
CKAN's envelope, so a CKAN client always gets the shape it parses. CKAN has no 401: a key
that is not valid is its 403 Authorization Error.
"""

from __future__ import annotations

import orjson
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bawaba.ecosystem.ckan.envelope import (
    AuthorizationError,
    BadRequest,
    CkanError,
    error_envelope,
)

PREFIXES = ("/api/3/action/", "/api/action/")
KEPT_STATUSES = {405: "Method Not Allowed", 429: "Too Many Requests"}
"""Refusals whose status a client acts on (retry later, use another method): they keep it,
with their headers, where any other 4xx is CKAN's 400 Bad Request."""


def with_platform_credentials(scope: Scope) -> Scope:
    """``scope`` with a bare CKAN key moved to ``X-API-Key`` (a Bearer token stays)."""
    headers: list[tuple[bytes, bytes]] = list(scope["headers"])
    found = {name.lower(): value.strip() for name, value in headers}
    key = found.get(b"x-ckan-api-key")
    authorization = found.get(b"authorization")
    bare = authorization is not None and b" " not in authorization
    if key is None and bare:
        key = authorization
    if key is None or b"x-api-key" in found:
        return scope
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() != b"x-ckan-api-key" and not (name.lower() == b"authorization" and bare)
    ]
    return {**scope, "headers": [*kept, (b"x-api-key", key)]}


def _ckan_error(status: int, body: bytes) -> CkanError | None:
    """The CKAN error for an answer in the open API's error shape, or None for an answer
    that is already CKAN's (or not JSON)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or "success" in document:
        return None
    error = document.get("error")
    if not isinstance(error, dict) or "code" not in error:
        return None
    detail = str(error.get("message", ""))
    if error.get("hint"):
        detail += f" ({error['hint']})"
    if status in (401, 403):
        return AuthorizationError(detail)
    if status < 500 and status not in KEPT_STATUSES:
        return BadRequest(detail)
    failure = CkanError(detail)
    failure.kind = KEPT_STATUSES.get(status, failure.kind)
    failure.status = status
    return failure


class CkanGateway:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        scope = with_platform_credentials(scope)
        held: Message | None = None
        body = b""

        async def send_ckan(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message  # an error: read it whole before deciding its shape
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            error = _ckan_error(held["status"], body)
            if error is None:
                await send(held)
                await send({"type": "http.response.body", "body": body})
                return
            name = scope["path"].rstrip("/").rsplit("/", 1)[-1]
            help_url = (
                f"{str(Request(scope).base_url).rstrip('/')}/api/3/action/help_show?name={name}"
            )
            answer = error_envelope(help_url, error)
            kept = MutableHeaders(raw=list(held["headers"]))
            for header in ("retry-after", "ratelimit", "ratelimit-policy"):
                if header in kept:
                    answer.headers[header] = kept[header]
            if held["status"] == 405:
                # Each action's GET and POST are two routes, and the router names only the
                # first in Allow; every path here answers both.
                answer.headers["allow"] = "GET, POST"
            await answer(scope, receive, send)

        await self.app(scope, receive, send_ckan)
