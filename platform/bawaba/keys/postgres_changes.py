"""Whether the PostgreSQL key store changed, told by LISTEN/NOTIFY and one ``poll``.

The SQLite store learns of other processes' commits from one ``pread`` of its WAL index
(changes.py); this is the same idea for many machines. Every change to keys or signing keys
sends a notification at its commit (a trigger, postgres_schema.py). Each process keeps one
connection that LISTENs, and on every question polls that connection's socket without
waiting: nothing readable means nothing committed since the last look, at the cost of one
system call (a query for a version row would be a network round trip on every keyed
request). Anything readable is taken in and moves the counter.

The counter also moves at once with this process's own writes, and when in doubt, which
errs towards reading the keys again, never towards missing a change: when the listening
connection is lost or cannot be made (every question then gets a new value, so nothing is
remembered, until it is back; reconnection is tried at most every RECONNECT_S), and once
more when it is made again, since changes during the gap were not announced to us.

A change reaches this process when PostgreSQL has delivered its notification: the
committing session signals the listening ones as it commits, and each listening session
then writes to its socket when the system schedules it. On loopback that took a median
12 µs after the writer saw its commit, and up to 33 ms on a 2-core machine under a load of
17 (bench/key_store.py).
"""

from __future__ import annotations

import atexit
import select
import threading
import time

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

from bawaba.keys.postgres_schema import CHANNEL

RECONNECT_S = 1.0
# Asked on the event loop: an unreachable server must not hold it long.
CONNECT_TIMEOUT_S = 2
# A silently vanished server (no reset ever arrives) is noticed by TCP keepalives.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}


def with_keepalives(url: str) -> str:
    return make_conninfo(url, **KEEPALIVES)


class ChangeListener:
    """A counter that moves whenever the keys may have changed since the last look."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._changes = 0
        self._connection: psycopg.Connection[psycopg.rows.TupleRow] | None = None
        self._poll = select.poll()
        self._retry_at = 0.0

    def version(self) -> int:
        with self._lock:
            if self._connection is None:
                self._connect()
                self._changes += 1
            elif self._poll.poll(0):
                self._take_in()
            return self._changes

    def wrote(self) -> None:
        """This process changed the keys: the counter moves now, for every store of the
        process, rather than when the announcement comes back a moment later."""
        with self._lock:
            self._changes += 1

    def _connect(self) -> None:
        """Listen again, at most every RECONNECT_S; the caller moves the counter."""
        now = time.monotonic()
        if now < self._retry_at:
            return
        self._retry_at = now + RECONNECT_S
        try:
            connection = psycopg.connect(
                with_keepalives(self._url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            return
        self._connection = connection
        self._poll = select.poll()
        self._poll.register(connection.pgconn.socket, select.POLLIN)

    def _take_in(self) -> None:
        """Read what arrived, and move the counter: whatever it was (a notification, or the
        server's farewell before the connection drops) may mean a change."""
        assert self._connection is not None
        connection = self._connection.pgconn
        self._changes += 1
        try:
            connection.consume_input()
            while connection.notifies() is not None:
                pass
            lost = connection.status != pq.ConnStatus.OK
        except psycopg.OperationalError:
            lost = True
        if lost:
            self.close_connection()

    def close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


_listeners: dict[str, ChangeListener] = {}
"""One listener per database URL, for the life of the process (as changes.py's files)."""
_listeners_lock = threading.Lock()


def listener(url: str) -> ChangeListener:
    with _listeners_lock:
        if not _listeners:
            atexit.register(_close_all)
        if url not in _listeners:
            _listeners[url] = ChangeListener(url)
        return _listeners[url]


def _close_all() -> None:
    for each in _listeners.values():
        each.close_connection()
