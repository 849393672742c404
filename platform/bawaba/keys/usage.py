"""Usage metering and monthly quotas, per key.

Counting into SQLite on every request would cost more than the request itself, so a server
process counts in memory and writes its counts to the key store every ``usage_flush_s``
seconds (and whenever a key's usage is read, and at shutdown). Admission is atomic: a
request is reserved against the quota before it runs and counted when it ends, so
concurrent requests cannot overrun a quota within a process. With several processes, each
sees the others' requests after their next write, so a quota can be overrun by at most what
the other processes served in that interval.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from bawaba.keys.store import KeyStore, Usage, month_of


@dataclass(frozen=True)
class Spent:
    """A quota that is used up."""

    what: str
    """``requests`` or ``rows``."""
    quota: int
    used: int


def next_month(now: datetime) -> datetime:
    """When this month's quotas reset: the first instant of next month, UTC."""
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


class Meter:
    def __init__(self, store: KeyStore, flush_s: float) -> None:
        self.store = store
        self.flush_s = flush_s
        self._lock = threading.Lock()
        # Held while counts move to the store, so nothing is seen twice or not at all.
        self._moving = threading.Lock()
        self._pending: defaultdict[tuple[str, str, str], Usage] = defaultdict(Usage)
        self._in_flight: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._stored: dict[tuple[str, str], Usage] = {}
        """(key id, month) -> the store's total as last read."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="usage-meter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> None:
        with self._moving:
            with self._lock:
                pending, self._pending = dict(self._pending), defaultdict(Usage)
                self._stored.clear()
            self.store.add_usage(pending)

    def _total(self, key_id: str, month: str) -> Usage:
        """Stored + counted here + in flight; the caller holds ``_moving``."""
        with self._lock:
            stored = self._stored.get((key_id, month))
        if stored is None:
            stored = sum(self.store.usage(key_id, month).values(), Usage())
            with self._lock:
                self._stored[(key_id, month)] = stored
        with self._lock:
            pending = [u for (k, m, _), u in self._pending.items() if k == key_id and m == month]
            in_flight = Usage(requests=self._in_flight[(key_id, month)])
        return sum(pending, stored + in_flight)

    def admit(
        self, key_id: str, requests: int | None, rows: int | None, now: datetime
    ) -> Spent | None:
        """Reserve one request against the key's quotas, or say which quota is spent. An
        admitted request must end with ``done``."""
        month = month_of(now)
        with self._moving:
            total = self._total(key_id, month)
            if requests is not None and total.requests >= requests:
                return Spent("requests", requests, total.requests)
            if rows is not None and total.rows >= rows:
                return Spent("rows", rows, total.rows)
            with self._lock:
                self._in_flight[(key_id, month)] += 1
        return None

    def done(self, key_id: str, dataset: str, rows: int, size: int, now: datetime) -> None:
        month = month_of(now)
        with self._lock:
            self._in_flight[(key_id, month)] -= 1
            where = (key_id, month, dataset)
            self._pending[where] = self._pending[where] + Usage(1, rows, size)

    def usage(self, key_id: str, now: datetime) -> tuple[Usage, dict[str, Usage]]:
        """The key's usage this month, in all and by dataset, exact as of now."""
        self.flush()
        month = month_of(now)
        by_dataset = self.store.usage(key_id, month)
        return sum(by_dataset.values(), Usage()), by_dataset
