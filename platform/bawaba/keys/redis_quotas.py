"""Monthly quotas and usage counted in Redis, exact across every replica at once.

With ``BAWABA_RATE_LIMIT_STORAGE_URI=redis://…`` the hot counts of a key's month live in one
Redis hash, ``bawaba:use:<key id>:<month>``:

* ``requests`` and ``rows``: what the quotas have counted (``QuotaCounter``: a request
  admitted, rows taken, rows given back), as ``SQLiteQuotas`` counts them in its table;
* ``r:<dataset>``, ``n:<dataset>``, ``b:<dataset>``: the requests, rows and bytes metered
  by dataset, what /api/v1/me/usage reports.

Every change is one Lua script, which Redis runs alone: a condition and its change are one
atomic step (never read, then write), so two replicas can never both take the last request
or the last rows, and a request counted on one replica is in the report of every other the
moment it ends (the key store's copy, written every ``usage_flush_s``, is up to that much
behind).

Which is the source of truth: Redis for the month in progress, the key store for the record.
Each server still writes its usage to the key store as before (``keys.usage.Meter``), so
the history outlives Redis, which is run without persistence. A month's hash starts from
what the key store holds for that month, the first time a replica finds it missing (a new
month, a key's first request, or a Redis that lost its data), by a script that creates it
only if it is still missing. A Redis that lost its data thus resumes from the key store,
short only of what the servers had not written to it yet (at most ``usage_flush_s`` of
requests). The hash expires a week after its month ends: nothing grows for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from bawaba.core.key_store import KeyStore, Usage, month_of
from bawaba.core.redis_client import PREFIX, answering
from bawaba.keys.quotas import Spent, spent
from bawaba.keys.usage import Meter

if TYPE_CHECKING:
    import redis

KEPT_AFTER_MONTH = timedelta(days=7)
"""How long a month's counts stay in Redis after the month ends (late requests of a server
whose clock is behind, a report read at midnight)."""
_MISSING = -1

# KEYS[1] the month's hash; ARGV[1] its expiry (epoch seconds), then field, value pairs.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
"""
# ARGV: the request and row quotas (-1: none). Returns {admitted 1/0, requests, rows}, or
# {-1} when the hash must be seeded first.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local used = redis.call('HMGET', KEYS[1], 'requests', 'rows')
local requests, rows = tonumber(used[1]), tonumber(used[2])
local most_requests, most_rows = tonumber(ARGV[1]), tonumber(ARGV[2])
if (most_requests < 0 or requests < most_requests) and (most_rows < 0 or rows < most_rows) then
    redis.call('HINCRBY', KEYS[1], 'requests', 1)
    return {1, requests + 1, rows}
end
return {0, requests, rows}
"""
# ARGV: quota, wanted, whole (1: all or none). Returns the rows granted; none without a
# hash (no request of this month was admitted: as SQLiteQuotas, which has no row).
_TAKE = """
local rows = redis.call('HGET', KEYS[1], 'rows')
if not rows then return 0 end
rows = tonumber(rows)
local quota, wanted = tonumber(ARGV[1]), tonumber(ARGV[2])
local got = math.min(wanted, quota - rows)
if ARGV[3] == '1' and got < wanted then return 0 end
if got <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'rows', got)
return got
"""
_ADD_ROWS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'rows', ARGV[1]) < 0 then
    redis.call('HSET', KEYS[1], 'rows', 0)
end
return 1
"""
# ARGV: dataset, rows, bytes. Returns -1 when the hash must be seeded first.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HINCRBY', KEYS[1], 'r:' .. ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'b:' .. ARGV[1], ARGV[3])
return 1
"""


def expires_at(month: str, now: datetime) -> int:
    """When a month's hash is dropped: ``KEPT_AFTER_MONTH`` after the month ends, and never
    sooner than that from ``now`` (a month long past would otherwise be gone as it is made)."""
    year, number = int(month[:4]), int(month[5:7])
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    end = max(datetime(year, number, 1, tzinfo=UTC), now)
    return int((end + KEPT_AFTER_MONTH).timestamp())


class RedisQuotas:
    """``QuotaCounter`` and live usage by dataset, in one Redis hash per key and month."""

    def __init__(self, client: redis.Redis, store: KeyStore) -> None:
        self.client = client
        self.store = store
        self._seed = client.register_script(_SEED)
        self._admit = client.register_script(_ADMIT)
        self._take = client.register_script(_TAKE)
        self._add_rows = client.register_script(_ADD_ROWS)
        self._record = client.register_script(_RECORD)

    @staticmethod
    def _key(key_id: str, month: str) -> str:
        return f"{PREFIX}use:{key_id}:{month}"

    def _seed_from_store(self, key_id: str, month: str) -> None:
        """Create the month's hash from the key store's usage, unless a replica just did."""
        by_dataset = self.store.usage(key_id, month)
        total = sum(by_dataset.values(), Usage())
        fields: list[str | int] = ["requests", total.requests, "rows", total.rows]
        for dataset, used in by_dataset.items():
            fields += [f"r:{dataset}", used.requests, f"n:{dataset}", used.rows]
            fields += [f"b:{dataset}", used.bytes]
        self._seed(
            keys=[self._key(key_id, month)], args=[expires_at(month, datetime.now(UTC)), *fields]
        )

    @answering
    def admit(
        self, key_id: str, month: str, requests: int | None, rows: int | None
    ) -> Spent | None:
        args = [-1 if requests is None else requests, -1 if rows is None else rows]
        keys = [self._key(key_id, month)]
        found = cast(list[int], self._admit(keys=keys, args=args))
        if found[0] == _MISSING:
            self._seed_from_store(key_id, month)
            found = cast(list[int], self._admit(keys=keys, args=args))
        if found[0] == 1:
            return None
        return spent(requests, rows, (int(found[1]), int(found[2])))

    @answering
    def take_rows(self, key_id: str, month: str, quota: int, wanted: int, *, whole: bool) -> int:
        if wanted <= 0:
            return 0
        args = [quota, wanted, 1 if whole else 0]
        return int(cast(int, self._take(keys=[self._key(key_id, month)], args=args)))

    @answering
    def add_rows(self, key_id: str, month: str, rows: int) -> None:
        if rows:
            self._add_rows(keys=[self._key(key_id, month)], args=[rows])

    @answering
    def used(self, key_id: str, month: str) -> tuple[int, int]:
        found = cast(
            list[bytes | None], self.client.hmget(self._key(key_id, month), ["requests", "rows"])
        )
        if found[0] is None or found[1] is None:
            return 0, 0
        return int(found[0]), int(found[1])

    @answering
    def record(self, key_id: str, month: str, dataset: str, rows: int, size: int) -> None:
        """Meter one request that ended, in the month's hash."""
        keys, args = [self._key(key_id, month)], [dataset, str(rows), str(size)]
        if cast(int, self._record(keys=keys, args=args)) == _MISSING:
            self._seed_from_store(key_id, month)
            self._record(keys=keys, args=args)

    @answering
    def usage(self, key_id: str, month: str) -> dict[str, Usage] | None:
        """The month's usage by dataset as counted in Redis; None if it holds none."""
        found = cast(dict[bytes, bytes], self.client.hgetall(self._key(key_id, month)))
        if not found:
            return None
        counts: dict[str, list[int]] = {}
        for field, value in found.items():
            kind, _, dataset = field.decode().partition(":")
            if dataset:
                slot = "rnb".index(kind)
                counts.setdefault(dataset, [0, 0, 0])[slot] = int(value)
        return {dataset: Usage(*n) for dataset, n in counts.items()}


class RedisMeter(Meter):
    """The usage meter when Redis counts: each request ends counted in Redis as well (what
    /me/usage reads, exact on every replica at once), and in memory for the key store."""

    def __init__(self, store: KeyStore, flush_s: float, counts: RedisQuotas) -> None:
        super().__init__(store, flush_s)
        self.counts = counts

    def done(self, key_id: str, month: str, dataset: str, rows: int, size: int) -> None:
        super().done(key_id, month, dataset, rows, size)
        self.counts.record(key_id, month, dataset, rows, size)

    def usage(self, key_id: str, now: datetime) -> tuple[Usage, dict[str, Usage]]:
        by_dataset = self.counts.usage(key_id, month_of(now))
        if by_dataset is None:  # nothing counted this month yet, or Redis lost it
            return super().usage(key_id, now)
        return sum(by_dataset.values(), Usage()), by_dataset
