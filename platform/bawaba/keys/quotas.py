"""Monthly quotas per key, counted in the key store so that every server process sees the
same numbers at once.

``QuotaCounter`` is the interface the gatekeeper and the data paths use; the PostgreSQL
key store of many replicas implements it too (``keys.postgres_quotas``). ``SQLiteQuotas``
keeps one row per key and month in the key store's SQLite file, and changes it only with
single statements whose condition and change are one atomic step (``UPDATE … WHERE
used + n <= quota RETURNING``): two processes can never both take the last request or the
last rows.

Rows are charged before they are answered: a data path asks for the rows it may answer
(a page's ``limit``, an aggregate's groups, a download's rows), is granted at most what
remains, answers no more than that, and gives back what it did not use. So the rows
answered in a month never pass the quota, and the last page is cut to what remained
(a download, which cannot be cut, is refused unless all its rows fit).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

UNLIMITED = 2**62
"""A quota of None, as a number SQLite compares."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_use (
    key_id   TEXT NOT NULL,
    month    TEXT NOT NULL,
    requests INTEGER NOT NULL,
    rows     INTEGER NOT NULL,
    granted  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, month)
) WITHOUT ROWID;
"""
# A key's first request in a month starts its row from what the usage table already holds
# (a store written before quotas were counted here). SET reads the row as it was.
_ADMIT = """
INSERT INTO quota_use (key_id, month, requests, rows)
SELECT ?1, ?2, coalesce(sum(requests), 0) + 1, coalesce(sum(rows), 0)
FROM usage WHERE key_id = ?1 AND month = ?2
ON CONFLICT (key_id, month) DO UPDATE SET requests = requests + 1
WHERE requests < ?3 AND rows < ?4
RETURNING requests, rows
"""
_TAKE_UP_TO = """
UPDATE quota_use SET rows = rows + min(?3, ?4 - rows), granted = min(?3, ?4 - rows)
WHERE key_id = ?1 AND month = ?2 AND rows < ?4
RETURNING granted
"""
_TAKE_ALL = """
UPDATE quota_use SET rows = rows + ?3, granted = ?3
WHERE key_id = ?1 AND month = ?2 AND rows + ?3 <= ?4
RETURNING granted
"""
_ADD_ROWS = "UPDATE quota_use SET rows = max(0, rows + ?3) WHERE key_id = ?1 AND month = ?2"
_UNCOUNT = "UPDATE quota_use SET requests = requests - 1 WHERE key_id = ? AND month = ?"
_USED = "SELECT requests, rows FROM quota_use WHERE key_id = ? AND month = ?"


@dataclass(frozen=True)
class Spent:
    """A quota that is used up."""

    what: str
    """``requests`` or ``rows``."""
    quota: int
    used: int


def spent(requests: int | None, rows: int | None, used: tuple[int, int]) -> Spent:
    """Which quota a refused admission found spent, from the requests and rows used."""
    used_requests, used_rows = used
    if requests is not None and used_requests >= requests:
        return Spent("requests", requests, used_requests)
    assert rows is not None
    return Spent("rows", rows, used_rows)


class QuotaCounter(Protocol):
    def admit(
        self, key_id: str, month: str, requests: int | None, rows: int | None
    ) -> Spent | None:
        """Count one request in ``month`` if the key has a request and a row left, else
        say which quota is spent."""
        ...

    def take_rows(self, key_id: str, month: str, quota: int, wanted: int, *, whole: bool) -> int:
        """Charge up to ``wanted`` rows (all of them or none if ``whole``); the rows
        granted, 0 when none remain."""
        ...

    def add_rows(self, key_id: str, month: str, rows: int) -> None:
        """Charge ``rows`` more (negative: give back rows granted and not answered)."""
        ...

    def used(self, key_id: str, month: str) -> tuple[int, int]:
        """Requests and rows counted in ``month``."""
        ...


class SQLiteQuotas:
    """Quotas in the key store's SQLite file (WAL: many processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
        return db

    def admit(
        self, key_id: str, month: str, requests: int | None, rows: int | None
    ) -> Spent | None:
        most_requests = UNLIMITED if requests is None else requests
        most_rows = UNLIMITED if rows is None else rows
        db = self._connection()
        row = db.execute(_ADMIT, (key_id, month, most_requests, most_rows)).fetchone()
        if row is not None and row[0] <= most_requests and row[1] < most_rows:
            return None
        if row is not None:  # a first row made from usage already past a quota
            db.execute(_UNCOUNT, (key_id, month))
        return spent(requests, rows, self.used(key_id, month))

    def take_rows(self, key_id: str, month: str, quota: int, wanted: int, *, whole: bool) -> int:
        if wanted <= 0:
            return 0
        sql = _TAKE_ALL if whole else _TAKE_UP_TO
        row = self._connection().execute(sql, (key_id, month, wanted, quota)).fetchone()
        return 0 if row is None else int(row[0])

    def add_rows(self, key_id: str, month: str, rows: int) -> None:
        if rows:
            self._connection().execute(_ADD_ROWS, (key_id, month, rows))

    def used(self, key_id: str, month: str) -> tuple[int, int]:
        row = self._connection().execute(_USED, (key_id, month)).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
