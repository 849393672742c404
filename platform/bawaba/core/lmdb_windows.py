"""Fixed-window rate-limit counters in one LMDB file: the ``WindowCounter`` of the worker
processes of one machine.

LMDB is a memory-mapped B-tree that many processes open at once. A write transaction holds
the file's one writer lock (a robust mutex in its lock file: a process killed holding it
does not leave it taken), so reading a caller's windows and writing them back is one
atomic step across processes, and ``--workers N`` lets exactly the limit through rather
than N times it. A hit is a lookup and a write in shared memory, with no SQL to run, which
is why this replaced a SQLite upsert on every request (bench/counters.py). Like sqlite3,
the binding lets go of the GIL in each call: while worker threads have Python work to do
(a download's), each hit hands the GIL over, and that costs the request more than the
count itself (bench/RESULTS.md, "Rate limits").

A caller's windows (at most ``MAX_WINDOWS``) are one record: the key is the caller's, the
value each window's end and count. A window starts at the first hit after the previous one
ended, as in limits' fixed-window strategy. Counters are worth less than the time to sync
them, so commits are not flushed to disk: a machine crash at worst forgets the current
windows.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import lmdb

from bawaba.core.counters import MAX_WINDOWS, Window
from bawaba.core.redis_client import CountersUnavailable

_RECORD = struct.Struct(f"<{MAX_WINDOWS}d{MAX_WINDOWS}q")
"""Each window's end (epoch seconds), then each one's count."""
MAP_BYTES = 1 << 30
"""How large the file may grow: room for millions of callers' windows at once. Address
space only; the file grows with what it holds."""

PURGE_BATCH = 64
"""Callers dropped per transaction when purging."""

_OPEN: dict[Path, lmdb.Environment] = {}
_OPENING = threading.Lock()


def _environment(path: Path, map_bytes: int) -> lmdb.Environment:
    """The process's one handle on ``path``: LMDB allows one per file and process (a second
    one's close would drop the first's locks), and apps built in one process share it."""
    key = path.resolve()
    with _OPENING:
        env = _OPEN.get(key)
        if env is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            env = _OPEN[key] = lmdb.open(
                str(key), map_size=map_bytes, subdir=False, sync=False, metasync=False
            )
        return env


class LMDBWindows:
    """Counters in one LMDB file, shared by the processes that open it."""

    PURGE_EVERY_S = 60.0
    """How often a process drops the callers whose windows have all ended."""

    def __init__(self, path: Path, map_bytes: int = MAP_BYTES) -> None:
        """``map_bytes``: how large the file may grow, if this process opens it first."""
        self.path = path
        self.map_bytes = map_bytes
        self._env = _environment(path, map_bytes)
        self._purged_at = time.monotonic()

    @staticmethod
    def _padded(lengths: Sequence[int]) -> list[int]:
        if not 1 <= len(lengths) <= MAX_WINDOWS:
            raise ValueError(f"1 to {MAX_WINDOWS} windows, not {len(lengths)}")
        return [*lengths, *([0] * (MAX_WINDOWS - len(lengths)))]

    def hit(self, key: str, lengths: Sequence[int], cost: int = 1) -> list[Window]:
        padded = self._padded(lengths)
        if time.monotonic() - self._purged_at >= self.PURGE_EVERY_S:
            self._purge()
        try:
            return self._hit(key.encode(), padded, cost)[: len(lengths)]
        except lmdb.MapFullError:
            self._purge()
        try:
            return self._hit(key.encode(), padded, cost)[: len(lengths)]
        except lmdb.MapFullError:
            raise CountersUnavailable(
                f"the rate-limit counters in {self.path} are full "
                f"({self.map_bytes / 2**20:g} MiB of callers whose windows have not ended)",
                hint="retry once the windows end",
            ) from None

    def _hit(self, key: bytes, lengths: list[int], cost: int) -> list[Window]:
        now = time.time()
        with self._env.begin(write=True) as txn:
            old = txn.get(key)
            if old is None:
                ends, counts = [now + length for length in lengths], [cost] * MAX_WINDOWS
            else:
                stored = _RECORD.unpack(old)
                ends, counts = list(stored[:MAX_WINDOWS]), list(stored[MAX_WINDOWS:])
                for i, length in enumerate(lengths):
                    if ends[i] <= now:
                        ends[i], counts[i] = now + length, cost
                    else:
                        counts[i] += cost
            txn.put(key, _RECORD.pack(*ends, *counts))
        return [Window(n, end) for end, n in zip(ends, counts, strict=True)]

    def peek(self, key: str, lengths: Sequence[int]) -> list[Window]:
        self._padded(lengths)
        now = time.time()
        with self._env.begin() as txn:
            old = txn.get(key.encode())
        if old is None:
            return [Window(0, now + length) for length in lengths]
        stored = _RECORD.unpack(old)
        return [
            Window(stored[MAX_WINDOWS + i], stored[i])
            if stored[i] > now
            else Window(0, now + length)
            for i, length in enumerate(lengths)
        ]

    def _purge(self) -> None:
        """Drops the callers whose windows all ended, a batch per transaction: a deletion
        copies the pages it changes, and in a full file only small transactions find room
        (the pages the one before gave up)."""
        self._purged_at = time.monotonic()
        now = time.time()
        after = b""
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    cursor = txn.cursor()
                    ended = []
                    if cursor.set_range(after):
                        for key, value in cursor:
                            if max(_RECORD.unpack(value)[:MAX_WINDOWS]) <= now:
                                ended.append(key)
                                if len(ended) == PURGE_BATCH:
                                    break
                    for key in ended:
                        txn.delete(key)
            except lmdb.MapFullError:
                break  # no room even to delete; the windows still going end in their turn
            if len(ended) < PURGE_BATCH:
                break
            after = ended[-1]
        # A process killed in a read leaves its reader slot taken, and LMDB keeps the
        # pages that reader could see: clearing such slots lets the file reuse them.
        self._env.reader_check()
