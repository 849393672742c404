"""Usage metering per key and dataset: requests, rows and bytes.

Counting into SQLite on every request would cost more than the request itself, so a server
process counts in memory and writes its counts to the key store every ``usage_flush_s``
seconds (and whenever a key's usage is read, and at shutdown). These counts are the report
(/me/usage by dataset); the quotas are decided by ``bawaba.keys.quotas``, which every
process counts in the key store at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime

from bawaba.core.key_store import KeyStore, Usage, month_of


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
            self.store.add_usage({where: Usage(*counts) for where, counts in pending.items()})

    def done(self, key_id: str, month: str, dataset: str, rows: int, size: int) -> None:
        with self._lock:
            counts = self._pending[(key_id, month, dataset)]
            counts[0] += 1
            counts[1] += rows
            counts[2] += size

    def usage(self, key_id: str, now: datetime) -> tuple[Usage, dict[str, Usage]]:
        """The key's usage this month, in all and by dataset, as this process knows it
        (other processes' counts arrive within ``usage_flush_s``)."""
        self.flush()
        month = month_of(now)
        by_dataset = self.store.usage(key_id, month)
        return sum(by_dataset.values(), Usage()), by_dataset
