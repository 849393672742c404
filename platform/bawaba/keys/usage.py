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

from bawaba.core.key_store import KeyStore, Usage, month_of


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


def _zeros() -> list[int]:
    return [0, 0, 0]


class Meter:
    def __init__(self, store: KeyStore, flush_s: float) -> None:
        self.store = store
        self.flush_s = flush_s
        self._lock = threading.Lock()
        # Held while counts move to the store, so nothing is seen twice or not at all.
        self._moving = threading.Lock()
        # [requests, rows, bytes] counted and not yet written, changed in place: a request
        # ends by adding to three numbers rather than by building new objects.
        self._pending: defaultdict[tuple[str, str, str], list[int]] = defaultdict(_zeros)
        self._in_flight: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._totals: dict[tuple[str, str], list[int]] = {}
        """(key id, month) -> [requests, rows] finished: the store's as last read plus what
        this process counted since, kept up to date so that admission costs no scan."""
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
                pending, self._pending = self._pending, defaultdict(_zeros)
                # Read again on next need, to take in what other processes wrote.
                self._totals.clear()
            self.store.add_usage({where: Usage(*counts) for where, counts in pending.items()})

    def _total(self, key_id: str, month: str) -> list[int]:
        """[requests, rows] finished this month; the caller holds ``_moving``."""
        where = (key_id, month)
        with self._lock:
            found = self._totals.get(where)
        if found is None:
            stored = sum(self.store.usage(key_id, month).values(), Usage())
            with self._lock:
                pending = [c for (k, m, _), c in self._pending.items() if (k, m) == where]
                found = self._totals[where] = [
                    stored.requests + sum(c[0] for c in pending),
                    stored.rows + sum(c[1] for c in pending),
                ]
        return found

    def admit(
        self, key_id: str, month: str, requests: int | None, rows: int | None
    ) -> Spent | None:
        """Reserve one request in ``month`` (``YYYY-MM``) against the key's quotas, or say
        which quota is spent. An admitted request must end with ``done``."""
        where = (key_id, month)
        with self._lock:
            total = self._totals.get(where)
            if total is not None:  # the common case: one lock, no store
                return self._reserve(where, total, requests, rows)
        with self._moving:
            total = self._total(key_id, month)
            with self._lock:
                return self._reserve(where, total, requests, rows)

    def _reserve(
        self, where: tuple[str, str], total: list[int], requests: int | None, rows: int | None
    ) -> Spent | None:
        """``admit`` once the month's total is known; the caller holds ``_lock``."""
        used = total[0] + self._in_flight[where]
        if requests is not None and used >= requests:
            return Spent("requests", requests, used)
        if rows is not None and total[1] >= rows:
            return Spent("rows", rows, total[1])
        self._in_flight[where] += 1
        return None

    def done(self, key_id: str, month: str, dataset: str, rows: int, size: int) -> None:
        with self._lock:
            self._in_flight[(key_id, month)] -= 1
            counts = self._pending[(key_id, month, dataset)]
            counts[0] += 1
            counts[1] += rows
            counts[2] += size
            total = self._totals.get((key_id, month))
            if total is not None:
                total[0] += 1
                total[1] += rows

    def usage(self, key_id: str, now: datetime) -> tuple[Usage, dict[str, Usage]]:
        """The key's usage this month, in all and by dataset, exact as of now."""
        self.flush()
        month = month_of(now)
        by_dataset = self.store.usage(key_id, month)
        return sum(by_dataset.values(), Usage()), by_dataset
