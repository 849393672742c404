"""Rate limits: fixed windows counted in a ``WindowCounter`` (``bawaba.core.counters``).

The gatekeeper middleware applies them before routing; it is ours rather than slowapi's
because slowapi's ASGI middleware re-sends the response start on every body chunk and so
breaks streamed downloads (slowapi issues #249 and #260). Limits are written in slowapi's
notation and parsed by the limits library. The counters live where
``BAWABA_RATE_LIMIT_STORAGE_URI`` says, by default a SQLite file that every worker process
shares, so a limit holds exactly whatever the number of workers. Every answer carries
``RateLimit-Policy`` and ``RateLimit`` (the IETF httpapi draft) beside ``X-RateLimit-*``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

from bawaba.core.counters import MAX_WINDOWS, Window, WindowCounter
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
        items = list(parse_many(text))
    except ValueError as error:
        raise ConfigError(
            f"{setting} = {text!r} is not a rate limit: {error}",
            hint="write e.g. 120/minute or 120/minute;3000/hour",
        ) from None
    if len(items) > MAX_WINDOWS:
        raise ConfigError(
            f"{setting} = {text!r} has {len(items)} limits",
            hint=f"give at most {MAX_WINDOWS}, e.g. 120/minute;3000/hour;20000/day",
        )
    return items


class RateLimits:
    def __init__(self, counter: WindowCounter) -> None:
        self.counter = counter

    @staticmethod
    def _key(caller: Caller) -> str:
        # A plan's limits are part of the key: a key moved to another plan starts afresh.
        return (
            caller.identity + "|" + ";".join(f"{i.amount}/{i.get_expiry()}" for i in caller.limits)
        )

    def check(self, caller: Caller) -> Verdict:
        """Counts one request against every limit of ``caller``; the verdict reports the
        limit that refused it, or else the one closest to refusing."""
        lengths = [item.get_expiry() for item in caller.limits]
        return self._verdict(caller, self.counter.hit(self._key(caller), lengths))

    def peek(self, caller: Caller) -> Verdict:
        """Whether ``caller`` has a request left, without counting one."""
        lengths = [item.get_expiry() for item in caller.limits]
        windows = self.counter.peek(self._key(caller), lengths)
        return self._verdict(caller, [Window(w.count + 1, w.ends_at) for w in windows])

    @staticmethod
    def _verdict(caller: Caller, windows: Sequence[Window]) -> Verdict:
        now = time.time()
        closest: Verdict | None = None
        for item, window in zip(caller.limits, windows, strict=True):
            verdict = Verdict(
                allowed=window.count <= item.amount,
                limit=item,
                remaining=max(0, item.amount - window.count),
                reset_in=max(1, math.ceil(window.ends_at - now)),
                policy=caller.policy,
            )
            if not verdict.allowed:
                return verdict
            if closest is None or verdict.remaining < closest.remaining:
                closest = verdict
        assert closest is not None, "a caller has at least one limit"
        return closest
