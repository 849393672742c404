"""Monthly quotas in the PostgreSQL key store: the ``QuotaCounter`` of many replicas.

The same statements as ``SQLiteQuotas`` (``keys.quotas``), in PostgreSQL's dialect: each
condition and change is one atomic statement (``INSERT … ON CONFLICT DO UPDATE … WHERE``,
``UPDATE … WHERE … RETURNING``), so two replicas can never both take the last request or
the last rows.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from bawaba.keys.quotas import UNLIMITED, Spent, spent

_ADMIT = """
INSERT INTO quota_use (key_id, month, requests, rows)
SELECT %(key)s, %(month)s, coalesce(sum(requests), 0) + 1, coalesce(sum(rows), 0)
FROM usage WHERE key_id = %(key)s AND month = %(month)s
ON CONFLICT (key_id, month) DO UPDATE SET requests = quota_use.requests + 1
WHERE quota_use.requests < %(requests)s AND quota_use.rows < %(rows)s
RETURNING requests, rows
"""
_TAKE_UP_TO = """
UPDATE quota_use
SET rows = rows + least(%(wanted)s, %(quota)s - rows), granted = least(%(wanted)s, %(quota)s - rows)
WHERE key_id = %(key)s AND month = %(month)s AND rows < %(quota)s
RETURNING granted
"""
_TAKE_ALL = """
UPDATE quota_use SET rows = rows + %(wanted)s, granted = %(wanted)s
WHERE key_id = %(key)s AND month = %(month)s AND rows + %(wanted)s <= %(quota)s
RETURNING granted
"""
_ADD_ROWS = (
    "UPDATE quota_use SET rows = greatest(0, rows + %(rows)s) "
    "WHERE key_id = %(key)s AND month = %(month)s"
)
_UNCOUNT = (
    "UPDATE quota_use SET requests = requests - 1 WHERE key_id = %(key)s AND month = %(month)s"
)
_USED = "SELECT requests, rows FROM quota_use WHERE key_id = %(key)s AND month = %(month)s"


class PostgresQuotas:
    def __init__(self, pool: ConnectionPool[psycopg.Connection[TupleRow]]) -> None:
        self._pool = pool

    def _one(self, sql: str, **params: object) -> TupleRow | None:
        with self._pool.connection() as db:
            return db.execute(sql, params).fetchone()

    def _do(self, sql: str, **params: object) -> None:
        with self._pool.connection() as db:
            db.execute(sql, params)

    def admit(
        self, key_id: str, month: str, requests: int | None, rows: int | None
    ) -> Spent | None:
        most_requests = UNLIMITED if requests is None else requests
        most_rows = UNLIMITED if rows is None else rows
        where = {"key": key_id, "month": month}
        row = self._one(_ADMIT, **where, requests=most_requests, rows=most_rows)
        if row is not None and row[0] <= most_requests and row[1] < most_rows:
            return None
        if row is not None:  # a first row made from usage already past a quota
            self._do(_UNCOUNT, **where)
        return spent(requests, rows, self.used(key_id, month))

    def take_rows(self, key_id: str, month: str, quota: int, wanted: int, *, whole: bool) -> int:
        if wanted <= 0:
            return 0
        sql = _TAKE_ALL if whole else _TAKE_UP_TO
        row = self._one(sql, key=key_id, month=month, wanted=wanted, quota=quota)
        return 0 if row is None else int(row[0])

    def add_rows(self, key_id: str, month: str, rows: int) -> None:
        if rows:
            self._do(_ADD_ROWS, key=key_id, month=month, rows=rows)

    def used(self, key_id: str, month: str) -> tuple[int, int]:
        row = self._one(_USED, key=key_id, month=month)
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
