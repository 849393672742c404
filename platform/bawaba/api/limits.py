"""Rate limits: slowapi's limiter (storage from a URI, fixed windows), applied by a plain
ASGI middleware before routing.

The limiter is slowapi's; the middleware is ours because slowapi's own ASGI middleware
re-sends the response start on every body chunk and so breaks streamed downloads (slowapi
issues #249 and #260). Every answer carries ``RateLimit-Policy`` and ``RateLimit`` (the
IETF httpapi draft) beside slowapi's ``X-RateLimit-*``; a refusal is a 429 in the common
error shape with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from slowapi import Limiter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bawaba.api.problems import RateLimited, error_response
from bawaba.errors import ConfigError

EXEMPT = ("/healthz", "/metrics")
# The portal's stylesheet, script and fonts cost nothing to serve and come with every page.
EXEMPT_PREFIXES = ("/static/",)


@dataclass(frozen=True)
class Caller:
    """Whom a request counts against, and its limits."""

    identity: str
    """``addr:<client address>`` for anonymous callers."""
    policy: str
    """The policy's name in the headers, e.g. ``anonymous``."""
    limits: Sequence[RateLimitItem]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: RateLimitItem
    remaining: int
    reset_in: int
    policy: str

    def headers(self) -> dict[str, str]:
        window = self.limit.get_expiry()
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit.amount};w={window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_in}',
            "X-RateLimit-Limit": str(self.limit.amount),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_in),
        }


def parse_limits(text: str, setting: str) -> list[RateLimitItem]:
    try:
        return list(parse_many(text))
    except ValueError as error:
        raise ConfigError(
            f"{setting} = {text!r} is not a rate limit: {error}",
            hint="write e.g. 120/minute or 120/minute;3000/hour",
        ) from None


class RateLimits:
    def __init__(self, storage_uri: str) -> None:
        self._limiter = Limiter(
            key_func=lambda: "", storage_uri=storage_uri, strategy="fixed-window"
        )

    def check(self, caller: Caller) -> Verdict:
        """Counts one request against every limit of ``caller``; the verdict reports the
        limit that refused it, or else the one closest to refusing."""
        strategy = self._limiter.limiter
        closest: Verdict | None = None
        for item in caller.limits:
            allowed = strategy.hit(item, caller.identity)
            reset_at, remaining = strategy.get_window_stats(item, caller.identity)
            verdict = Verdict(
                allowed=allowed,
                limit=item,
                remaining=max(0, remaining),
                reset_in=max(1, math.ceil(reset_at - time.time())),
                policy=caller.policy,
            )
            if not allowed:
                return verdict
            if closest is None or verdict.remaining < closest.remaining:
                closest = verdict
        assert closest is not None, "a caller has at least one limit"
        return closest


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits,
        identify: Callable[[Scope], Caller],
        on_refusal: Callable[[Caller], None],
    ) -> None:
        self.app = app
        self.limits = limits
        self.identify = identify
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT
            or scope["path"].startswith(EXEMPT_PREFIXES)
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        caller = self.identify(scope)
        verdict = self.limits.check(caller)
        if not verdict.allowed:
            self.on_refusal(caller)
            refusal = RateLimited(
                f"rate limit reached: {verdict.limit.amount} requests per "
                f"{verdict.limit.get_expiry()} s for this {caller.policy} caller",
                hint=f"retry in {verdict.reset_in} s; a free developer key raises the limits",
                headers={"Retry-After": str(verdict.reset_in), **verdict.headers()},
            )
            await error_response(refusal)(scope, receive, send)
            return
        extra = verdict.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def anonymous(limits: Sequence[RateLimitItem]) -> Callable[[Scope], Caller]:
    def identify(scope: Scope) -> Caller:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        return Caller(identity=f"addr:{address}", policy="anonymous", limits=limits)

    return identify
