"""The key store: API keys (their keyed hashes only) and monthly usage, in SQLite.

The interface is ``bawaba.core.key_store.KeyStore``. The whole key is checked against the
stored HMAC-SHA256 under the store's secret, in constant time. One SQLite file in WAL mode
serves many server processes on one machine; past one machine the same tables live in
PostgreSQL (``bawaba.keys.postgres_store``).

Every keyed request needs its key, and reading it (a query, the keyed hash, three timestamps
parsed) would cost more than the rest of the request: the gatekeeper keeps what it has
checked while ``version`` stays the same. The version moves with any other connection's
commit, in this process or another (``bawaba keys revoke``), seen by a CommitWatch, and with
this store's own writes. A revoked or rotated key is thus refused on its very next request.
"""

from __future__ import annotations

import contextlib
import hmac
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from bawaba.core.key_store import (
    KEY_SHAPE,
    ApiKey,
    KeyNotFound,
    Usage,
    month_of,
    new_key_id,
    new_key_text,
)
from bawaba.errors import BawabaError, ConfigError
from bawaba.fsutil import create_secret_file
from bawaba.keys.changes import CommitWatch
from bawaba.settings import Settings

# The key's form and state are the interface's (bawaba.core.key_store); named here too for
# the modules that import them from the store.
__all__ = ["KEY_SHAPE", "ApiKey", "KeyNotFound", "KeyStore", "Usage", "month_of", "store_secret"]

_SELECT_KEY = (
    "SELECT id, org, plan, created_at, expires_at, revoked_at, secret_hash FROM keys WHERE id = ?"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    plan        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    rotated_at  TEXT
);
CREATE TABLE IF NOT EXISTS usage (
    key_id   TEXT NOT NULL REFERENCES keys(id),
    month    TEXT NOT NULL,
    dataset  TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    rows     INTEGER NOT NULL DEFAULT 0,
    bytes    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, month, dataset)
);
"""


def store_secret(settings: Settings) -> bytes:
    """The secret under which keys are hashed and tokens signed."""
    if settings.key_store_secret is not None:
        secret = settings.key_store_secret.get_secret_value()
    else:
        _refuse_a_new_secret_over_stored_keys(settings)
        create_secret_file(settings.key_store_secret_file)
        secret = settings.key_store_secret_file.read_text(encoding="utf-8").strip()
    if len(secret) < 32:
        raise ConfigError(
            "the key store secret is shorter than 32 characters",
            hint="set BAWABA_KEY_STORE_SECRET to 32+ random characters, or remove it to use "
            "the generated file under var/secrets/",
        )
    return secret.encode()


def _refuse_a_new_secret_over_stored_keys(settings: Settings) -> None:
    """A new secret would silently invalidate every key hashed under the lost one, while
    ``keys list`` still showed them usable: when keys exist, a missing secret file is an
    error to fix, not a file to create."""
    path = settings.key_store_secret_file
    if path.exists() or not settings.key_store_path.exists():
        return
    try:
        with contextlib.closing(
            sqlite3.connect(f"{settings.key_store_path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            (held,) = db.execute("SELECT count(*) FROM keys").fetchone()
    except sqlite3.OperationalError:
        return  # no keys table yet: nothing was hashed
    if held:
        raise ConfigError(
            f"the key store secret {path} is missing, but {settings.key_store_path} holds "
            f"{held} key(s) hashed with it; a new secret would make every one of them fail",
            hint=f"restore {path} from a backup (or set BAWABA_KEY_STORE_SECRET to the secret "
            f"it held); to start over without those keys, move {settings.key_store_path} away",
        )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class KeyStore:
    def __init__(self, path: Path, secret: bytes) -> None:
        self.path = path
        self._secret = secret
        self._local = threading.local()
        self._writes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            db.executescript(SCHEMA)

    @classmethod
    def open(cls, settings: Settings) -> KeyStore:
        return cls(settings.key_store_path, store_secret(settings))

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
            self._local.watch = CommitWatch(self.path, db)
        return db

    def version(self) -> tuple[int, int]:
        """Changes whenever the keys may have changed since this thread last asked: any
        other connection's commit (in this process or another: ``bawaba keys revoke``), or a
        write through this store, which its own connection's ``data_version`` does not see.
        Cheap enough for every request."""
        self._connection()
        watch: CommitWatch = self._local.watch
        return watch.version(), self._writes

    def _wrote(self) -> None:
        self._writes += 1

    def _read(self, key_id: str) -> tuple[ApiKey, bytes] | None:
        """The key ``key_id`` and its secret hash, as the store holds them now."""
        row = self._connection().execute(_SELECT_KEY, (key_id,)).fetchone()
        return None if row is None else (self._row(row[:6]), bytes(row[6]))

    def _hash(self, key: str) -> bytes:
        return hmac.digest(self._secret, key.encode(), "sha256")

    @staticmethod
    def _row(row: tuple[str, str, str, str, str | None, str | None]) -> ApiKey:
        created = _time(row[3])
        assert created is not None
        return ApiKey(row[0], row[1], row[2], created, _time(row[4]), _time(row[5]))

    # --- administration ----------------------------------------------------------------

    def create(self, org: str, plan: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
        """A new key and its secret text, which is shown once and never stored."""
        key_id = new_key_id()
        key = new_key_text(key_id)
        now = datetime.now(UTC)
        with self._connection() as db:
            db.execute(
                "INSERT INTO keys (id, org, plan, secret_hash, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    org,
                    plan,
                    self._hash(key),
                    now.isoformat(),
                    expires_at.isoformat() if expires_at else None,
                ),
            )
        self._wrote()
        return self.get(key_id), key

    def get(self, key_id: str) -> ApiKey:
        found = self._read(key_id)
        if found is None:
            raise KeyNotFound(f"no key {key_id!r}", hint="`bawaba keys list` shows the keys")
        return found[0]

    def list(self) -> list[ApiKey]:
        rows = self._connection().execute(
            "SELECT id, org, plan, created_at, expires_at, revoked_at FROM keys ORDER BY created_at"
        )
        return [self._row(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        self.get(key_id)
        with self._connection() as db:
            db.execute(
                "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
        self._wrote()
        return self.get(key_id)

    def rotate(self, key_id: str) -> tuple[ApiKey, str]:
        """A new secret for the same key (same id, plan and usage); the old one stops working
        at once."""
        key = self.get(key_id)
        if key.revoked_at is not None:
            raise BawabaError(
                f"key {key.prefix} is revoked", hint="create a new key instead", slug="revoked-key"
            )
        text = new_key_text(key_id)
        with self._connection() as db:
            db.execute(
                "UPDATE keys SET secret_hash = ?, rotated_at = ? WHERE id = ?",
                (self._hash(text), datetime.now(UTC).isoformat(), key_id),
            )
        self._wrote()
        return key, text

    # --- checking a presented key ------------------------------------------------------

    def verify(self, key_id: str, presented: str) -> ApiKey | None:
        """The key whose id is ``key_id`` if ``presented`` is its current secret text."""
        found = self._read(key_id)
        if found is None:
            # Spend the same time as a wrong secret, so ids cannot be probed by timing.
            hmac.compare_digest(self._hash(presented), bytes(32))
            return None
        if not hmac.compare_digest(self._hash(presented), found[1]):
            return None
        return found[0]

    # --- usage -------------------------------------------------------------------------

    def add_usage(self, counts: dict[tuple[str, str, str], Usage]) -> None:
        """Add ``(key id, month, dataset) -> usage`` counts in one transaction."""
        if not counts:
            return
        with self._connection() as db:
            db.executemany(
                "INSERT INTO usage (key_id, month, dataset, requests, rows, bytes) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, month, dataset) DO UPDATE SET "
                "requests = requests + excluded.requests, rows = rows + excluded.rows, "
                "bytes = bytes + excluded.bytes",
                [(*where, u.requests, u.rows, u.bytes) for where, u in counts.items()],
            )

    def usage(self, key_id: str, month: str) -> dict[str, Usage]:
        """The key's usage in ``month`` (``YYYY-MM``), by dataset."""
        rows = self._connection().execute(
            "SELECT dataset, requests, rows, bytes FROM usage WHERE key_id = ? AND month = ?",
            (key_id, month),
        )
        return {dataset: Usage(r, n, b) for dataset, r, n, b in rows}
