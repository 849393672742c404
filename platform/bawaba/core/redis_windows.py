"""Fixed-window rate-limit counters in Redis: the ``WindowCounter`` of many replicas.

A caller's windows (at most ``MAX_WINDOWS``) are one Redis key each, counted by one Lua
script per request: Redis runs a script alone, so the increments of every window and the
expiry of a new one are one atomic step, and two replicas can never both take the last
request (a client-side read, then write, could). The script goes by its SHA (EVALSHA), so
a request sends a few dozen bytes; after a Redis restart the client loads it again once.

A window starts at the first hit after the previous one ended, as in ``SQLiteWindows``: the
key is created by that hit and given the window's length as its time to live, and Redis
drops it when the window ends, so nothing accumulates. The windows' keys share a hash tag
(``{caller}``), so on Redis Cluster one script's keys are on one node.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from bawaba.core.counters import MAX_WINDOWS, Window
from bawaba.core.redis_client import PREFIX, answering

if TYPE_CHECKING:
    import redis

# KEYS: the windows; ARGV[1] the cost, ARGV[1 + i] window i's length in ms. Returns count
# and milliseconds left, per window. A key without a time to live is one this hit made
# (INCRBY creates it); a window of length 0 ends as it starts, and is never stored.
_HIT = """
local cost = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
    local ms = tonumber(ARGV[i + 1])
    if ms <= 0 then
        out[2 * i - 1] = cost
        out[2 * i] = 0
    else
        local n = redis.call('INCRBY', key, cost)
        local left = redis.call('PTTL', key)
        if left < 0 then
            redis.call('PEXPIRE', key, ms)
            left = ms
        end
        out[2 * i - 1] = n
        out[2 * i] = left
    end
end
return out
"""
_PEEK = """
local out = {}
for i, key in ipairs(KEYS) do
    out[2 * i - 1] = tonumber(redis.call('GET', key) or '0')
    out[2 * i] = redis.call('PTTL', key)
end
return out
"""


class RedisWindows:
    """Counters in one Redis, shared by every process and replica that opens it."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._hit = client.register_script(_HIT)
        self._peek = client.register_script(_PEEK)

    @staticmethod
    def _keys(key: str, lengths: Sequence[int]) -> list[str]:
        if not 1 <= len(lengths) <= MAX_WINDOWS:
            raise ValueError(f"1 to {MAX_WINDOWS} windows, not {len(lengths)}")
        return [f"{PREFIX}rl:{{{key}}}:{i}:{length}" for i, length in enumerate(lengths)]

    @answering
    def hit(self, key: str, lengths: Sequence[int], cost: int = 1) -> list[Window]:
        keys = self._keys(key, lengths)
        found = cast(list[int], self._hit(keys=keys, args=[cost, *(1000 * n for n in lengths)]))
        now = time.time()
        return [Window(int(found[2 * i]), now + found[2 * i + 1] / 1000) for i in range(len(keys))]

    @answering
    def peek(self, key: str, lengths: Sequence[int]) -> list[Window]:
        keys = self._keys(key, lengths)
        found = cast(list[int], self._peek(keys=keys))
        now = time.time()
        windows = []
        for i, length in enumerate(lengths):
            count, left = int(found[2 * i]), int(found[2 * i + 1])
            # -2: no such key, the window has not started (or has ended).
            ended = left < 0
            windows.append(Window(0, now + length) if ended else Window(count, now + left / 1000))
        return windows
