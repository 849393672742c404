"""DuckDB for the API: one in-process database, a cursor per thread, and a deadline.

The database holds no tables; every query reads a published Parquet file that the query
compiler binds as a parameter. DuckDB's own limits (threads, memory) come from settings, and
a query still running at its deadline is interrupted by one watchdog thread
rather than by a timer thread per query.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bawaba.api.problems import QueryTimeout
from bawaba.api.query import Compiled

Observer = Callable[[str, float], None]
"""Told the kind of each query and its seconds, for the metrics."""


class _Watchdog:
    """Interrupts connections whose deadline passed."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, duckdb.DuckDBPyConnection] = {}
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None
        self.fired: set[int] = set()

    def watch(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> int:
        ticket = next(self._tickets)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="duckdb-deadline", daemon=True
                )
                self._thread.start()
            self._live[ticket] = connection
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket))
            self._lock.notify()
        return ticket

    def release(self, ticket: int) -> bool:
        """Stop watching; True if the deadline had already fired."""
        with self._lock:
            self._live.pop(ticket, None)
            fired = ticket in self.fired
            self.fired.discard(ticket)
            return fired

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                due, ticket = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self.fired.add(ticket)
                self._live.pop(ticket).interrupt()


class Engine:
    def __init__(
        self,
        *,
        threads: int,
        memory_limit: str,
        deadline_s: float,
        observe: Observer | None = None,
    ) -> None:
        self._db = duckdb.connect(
            ":memory:",
            config={"threads": threads, "memory_limit": memory_limit},
        )
        self._db.execute("SET parquet_metadata_cache = true")
        self._local = threading.local()
        self._watchdog = _Watchdog()
        self.deadline_s = deadline_s
        self._observe = observe or (lambda kind, seconds: None)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._db.cursor()
            # A long query would otherwise draw a progress bar on the server's terminal.
            cursor.execute("SET enable_progress_bar = false")
            self._local.cursor = cursor
        return cursor

    @contextmanager
    def _deadline(self, cursor: duckdb.DuckDBPyConnection, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        ticket = self._watchdog.watch(cursor, self.deadline_s)
        try:
            yield
        except duckdb.InterruptException:
            if self._watchdog.release(ticket):
                raise QueryTimeout(
                    f"the query ran past its {self.deadline_s:g} s deadline and was stopped",
                    hint="narrow it with filters, ask for fewer groups, or fetch the download "
                    "and query it locally",
                ) from None
            raise
        finally:
            self._watchdog.release(ticket)
            self._observe(kind, time.perf_counter() - started)

    def rows(
        self, source: Path, query: Compiled, kind: str
    ) -> tuple[list[str], list[tuple[object, ...]]]:
        """Column names and rows of ``query`` over ``source``, within the deadline."""
        cursor = self._cursor()
        with self._deadline(cursor, kind):
            result = cursor.execute(query.sql, (str(source), *query.params))
            names = [column[0] for column in result.description or ()]
            return names, result.fetchall()

    def scalar(self, source: Path, query: Compiled, kind: str) -> object:
        _, rows = self.rows(source, query, kind)
        return rows[0][0]

    def copy(self, source: Path, query: Compiled, target: Path, options: str) -> None:
        """Write the result of ``query`` to ``target`` with DuckDB's COPY; ``options`` is one
        of the fixed format clauses of ``bawaba.api.downloads`` (never request text)."""
        cursor = self._cursor()
        started = time.perf_counter()
        try:
            # DuckDB binds the COPY target before the parameters of the inner query.
            cursor.execute(
                f"COPY ({query.sql}) TO ? ({options})", (str(target), str(source), *query.params)
            )
        finally:
            self._observe("download", time.perf_counter() - started)

    def close(self) -> None:
        self._db.close()
