"""Rate limits: slowapi's limiter (storage from a URI, fixed windows).

The gatekeeper middleware applies them before routing; it is ours rather than slowapi's
because slowapi's ASGI middleware re-sends the response start on every body chunk and so
breaks streamed downloads (slowapi issues #249 and #260). For ``memory://`` the counters
live in ``QuietMemoryStorage`` (below) rather than in limits' own memory storage, which
starts a thread on the event loop every 10 ms under load. Every answer carries
``RateLimit-Policy`` and ``RateLimit`` (the IETF httpapi draft) beside slowapi's
``X-RateLimit-*``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from slowapi import Limiter

from bawaba.errors import ConfigError


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


class QuietMemoryStorage(MemoryStorage):
    """limits' memory storage without its expiry thread.

    limits (5.8) schedules a 10 ms ``threading.Timer`` from every ``incr`` whose previous
    timer has finished, so under steady load the event loop starts up to a hundred threads
    a second and waits for each to run (measured: a third of a cached answer's time on a
    busy 2-core machine, bench/api.py). The timer only drops expired counters, which
    ``get`` already ignores, so this storage drops them inline instead, at most once per
    ``PURGE_EVERY_S``: memory stays bounded, no thread is started.
    """

    PURGE_EVERY_S = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.timer.cancel()  # the one started by the constructor
        self._purged_at = time.monotonic()

    # Overrides the private hook that MemoryStorage.incr calls (name-mangled there).
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._purged_at >= self.PURGE_EVERY_S:
            self._purged_at = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class RateLimits:
    def __init__(self, storage_uri: str) -> None:
        self._strategy: RateLimiter
        if storage_uri.startswith("memory://"):
            self._strategy = FixedWindowRateLimiter(QuietMemoryStorage(storage_uri))
        else:
            limiter = Limiter(key_func=lambda: "", storage_uri=storage_uri, strategy="fixed-window")
            self._strategy = limiter.limiter

    def check(self, caller: Caller) -> Verdict:
        """Counts one request against every limit of ``caller``; the verdict reports the
        limit that refused it, or else the one closest to refusing."""
        strategy = self._strategy
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
