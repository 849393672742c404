"""DuckDB for the API: one in-process database, a cursor per thread, and a deadline.

Every compiled query reads a published Parquet file that the query compiler binds as a
parameter. Small versions are also copied into the database as tables, once, on first use
(``resident_bytes`` of Parquet at most, the least recently used dropped first): reading
a few thousand rows from memory rather than decoding the file again took a quarter off an
aggregate's time (bench/api.py). Versions never change once published, so a copy never
goes stale. DuckDB's own limits (threads, memory) come from settings, and a query still
running at its deadline is interrupted by one watchdog thread rather than by a timer thread
per query.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bawaba.serving.problems import QueryTimeout
from bawaba.serving.query import Compiled

Observer = Callable[[str, float], None]
"""Told the kind of each query and its seconds, for the metrics."""
Source = Path | str
"""What a query reads: a local Parquet file, or an ``s3://`` URL (httpfs; see ``prepare``)."""


class _Watchdog:
    """Interrupts connections whose deadline passed.

    Its thread sleeps until the earliest deadline, or for ``idle_s`` when none is pending,
    and is woken only by a deadline earlier than that: with one deadline for every query,
    a new one never is, so a query costs no thread switch (waking it on every query was a
    tenth of an aggregate's time)."""

    def __init__(self, idle_s: float) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, duckdb.DuckDBPyConnection] = {}
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None
        self._idle_s = idle_s
        self._wakes_at = 0.0
        self.fired: set[int] = set()

    def watch(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> int:
        ticket = next(self._tickets)
        due = time.monotonic() + seconds
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="duckdb-deadline", daemon=True
                )
                self._thread.start()
            self._live[ticket] = connection
            heapq.heappush(self._heap, (due, ticket))
            if due < self._wakes_at:
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
                now = time.monotonic()
                if not self._heap:
                    self._wakes_at = now + self._idle_s
                    self._lock.wait(self._idle_s)
                    continue
                due, ticket = self._heap[0]
                if due > now:
                    self._wakes_at = due
                    self._lock.wait(due - now)
                    continue
                heapq.heappop(self._heap)
                self.fired.add(ticket)
                self._live.pop(ticket).interrupt()


RESIDENT_FILE_BYTES = 8 * 1024 * 1024
"""Largest Parquet file copied into memory: past this, DuckDB's threads on the file beat
one thread on the copy."""
QUICK_ROWS = 20_000
"""A copy this small answers any query in a few milliseconds at most (see ``quick``)."""


SMALL_TABLE_OPTIMIZERS = "statistics_propagation,compressed_materialization"
"""DuckDB optimizer passes that pay off on large scans only: on a copy of a few thousand
rows, skipping them took a fifth off an aggregate (results are the same either way)."""


class _Database:
    """One in-memory DuckDB database and a cursor on it per thread."""

    def __init__(self, threads: int, memory_limit: str, *, small_tables: bool = False) -> None:
        self.connection = duckdb.connect(
            ":memory:", config={"threads": threads, "memory_limit": memory_limit}
        )
        self.connection.execute("SET GLOBAL parquet_metadata_cache = true")
        if small_tables:
            self.connection.execute(f"SET GLOBAL disabled_optimizers = '{SMALL_TABLE_OPTIMIZERS}'")
        self._local = threading.local()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self.connection.cursor()
            # A long query would otherwise draw a progress bar on the server's terminal.
            cursor.execute("SET enable_progress_bar = false")
            self._local.cursor = cursor
        return cursor


class Engine:
    def __init__(
        self,
        *,
        threads: int,
        memory_limit: str,
        deadline_s: float,
        resident_bytes: int = 0,
        observe: Observer | None = None,
        prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        self._files = _Database(threads, memory_limit)
        if prepare is not None:
            prepare(self._files.connection)  # e.g. httpfs and a secret for object storage
        # A few thousand rows take longer to share out among threads than to read on one.
        self._copies = _Database(1, memory_limit, small_tables=True)
        self._watchdog = _Watchdog(idle_s=deadline_s)
        self.deadline_s = deadline_s
        self._observe = observe or (lambda kind, seconds: None)
        self._resident_bytes = resident_bytes
        self._resident: OrderedDict[Source, tuple[str, int, int]] = OrderedDict()
        """Parquet files copied into tables -> (table, file bytes, rows), least recently
        used first."""
        self._residency = threading.Lock()
        self._table_names = (f"resident_{n}" for n in itertools.count(1))

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
        self, source: Source, query: Compiled, kind: str
    ) -> tuple[list[str], list[tuple[object, ...]]]:
        """Column names and rows of ``query`` over ``source``, within the deadline."""
        table = self._table_of(source) if query.reads_one_file else None
        if table is not None:
            # If it was dropped for another file since it was looked up: the file.
            with contextlib.suppress(duckdb.CatalogException):
                return self._run(self._copies.cursor(), query.over_table(table), query.params, kind)
        return self._run(self._files.cursor(), query.sql, (str(source), *query.params), kind)

    def _run(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, params: tuple[object, ...], kind: str
    ) -> tuple[list[str], list[tuple[object, ...]]]:
        with self._deadline(cursor, kind):
            result = cursor.execute(sql, params)
            names = [column[0] for column in result.description or ()]
            return names, result.fetchall()

    def _table_of(self, source: Source) -> str | None:
        """The table holding ``source``, copied now if it fits; None for a file that does
        not fit (or is gone: the query on the file then says so)."""
        found = self._resident.get(source)
        if found is not None:
            with self._residency:
                if source in self._resident:
                    self._resident.move_to_end(source)
            return found[0]
        if isinstance(source, str):
            return None  # a remote object too large for the local cache: far too large here
        try:
            size = source.stat().st_size
        except OSError:
            return None
        if size > min(self._resident_bytes, RESIDENT_FILE_BYTES):
            return None
        with self._residency:
            if source in self._resident:
                return self._resident[source][0]
            while self._resident and sum(r[1] for r in self._resident.values()) + size > (
                self._resident_bytes
            ):
                _, (dropped, *_) = self._resident.popitem(last=False)
                self._copies.cursor().execute(f'DROP TABLE IF EXISTS "{dropped}"')
            table = next(self._table_names)
            # The name is the engine's own; the file is bound as a parameter.
            copies = self._copies.cursor()
            copies.execute(
                f'CREATE TABLE "{table}" AS SELECT * FROM read_parquet(?)',  # noqa: S608
                (str(source),),
            )
            counted = copies.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
            self._resident[source] = (table, size, counted[0] if counted else 0)
        return table

    def quick(self, source: Source) -> bool:
        """Whether queries on ``source`` are read from a small copy in memory: they take
        about a millisecond, and are best run where they are asked rather than handed to a
        thread and back (that cost a fifth of their time, and a third more CPU under load;
        bench/api.py)."""
        found = self._resident.get(source)
        return found is not None and found[2] <= QUICK_ROWS

    def scalar(self, source: Source, query: Compiled, kind: str) -> object:
        _, rows = self.rows(source, query, kind)
        return rows[0][0]

    def copy(self, source: Source, query: Compiled, target: Path, options: str) -> None:
        """Write the result of ``query`` to ``target`` with DuckDB's COPY; ``options`` is one
        of the fixed format clauses of ``bawaba.serving.downloads`` (never request text)."""
        cursor = self._files.cursor()
        started = time.perf_counter()
        try:
            # DuckDB binds the COPY target before the parameters of the inner query.
            cursor.execute(
                f"COPY ({query.sql}) TO ? ({options})", (str(target), str(source), *query.params)
            )
        finally:
            self._observe("download", time.perf_counter() - started)

    def close(self) -> None:
        self._files.connection.close()
        self._copies.connection.close()
