"""The key store in PostgreSQL: keys, token signing keys and usage, shared by every replica.

The same interface as the SQLite store (``bawaba.core.key_store``), chosen with
``BAWABA_KEY_STORE_URL=postgresql://…``. Opening a store applies the schema's migrations
(postgres_schema.py) and checks that this replica's store secret is the one the store was
made with: keys are kept as keyed hashes under that secret, so a replica with another one
would refuse every key. Usage counts are added in one upsert per flush, which PostgreSQL
applies atomically, so replicas flushing at once lose nothing.

``version`` moves with every change to keys or signing keys, by any replica or ``bawaba
keys …`` anywhere, as announced by LISTEN/NOTIFY (postgres_changes.py), and at once with
this process's own writes.

Signing keys are stored as seeds only; the secret a token is signed with is derived from
the seed under the store secret, so that a copy of the database alone cannot mint tokens.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import UTC, datetime

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from bawaba.core.key_store import ApiKey, KeyNotFound, Usage, new_key_id, new_key_text
from bawaba.errors import BawabaError, ConfigError
from bawaba.keys import postgres_changes
from bawaba.keys.postgres_quotas import PostgresQuotas
from bawaba.keys.postgres_schema import migrate
from bawaba.keys.store import store_secret
from bawaba.keys.tokens import new_kid
from bawaba.settings import Settings

POOL_SIZE = 8
"""Connections per process at most: the event loop's key lookups, the usage flush, and a
few threads serving /oauth/token and /me/usage."""
CONNECT_TIMEOUT_S = 10
WAIT_FOR_CONNECTION_S = 5.0
"""How long a key look-up waits for a pooled connection (the gate asks on the event loop)
before failing, when the server is unreachable."""
SIGNING_LOCK = 0x62617761_6B657932
"""Advisory lock id held while signing keys rotate ("bawakey2"), so two rotations at once
cannot both trim the other's key."""
_SECRET_CHECK = b"bawaba key store secret check"
_SELECT_KEY = "SELECT id, org, plan, created_at, expires_at, revoked_at, secret_hash FROM keys"


def describe(url: str) -> str:
    """The URL's server and database, without its credentials, for messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unreadable PostgreSQL URL"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _key(row: TupleRow) -> ApiKey:
    created = _utc(row[3])
    assert created is not None
    return ApiKey(row[0], row[1], row[2], created, _utc(row[4]), _utc(row[5]))


class PostgresKeyStore:
    def __init__(self, url: str, secret: bytes) -> None:
        self._secret = secret
        self.where = describe(url)
        self._open(url)
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            postgres_changes.with_keepalives(url),
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True},
            open=True,
            num_workers=1,
            timeout=WAIT_FOR_CONNECTION_S,
            name="bawaba-keys",
        )
        self._changes = postgres_changes.listener(url)

    @classmethod
    def open(cls, settings: Settings) -> PostgresKeyStore:
        assert settings.key_store_url is not None
        return cls(settings.key_store_url.get_secret_value(), store_secret(settings))

    def _open(self, url: str) -> None:
        """Migrate, and check the store secret, before anything is served."""
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as db:
                migrate(db)
                check = hmac.digest(self._secret, _SECRET_CHECK, "sha256").hex()
                db.execute(
                    "INSERT INTO key_store_facts (name, value) VALUES ('secret_check', %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (check,),
                )
                row = db.execute(
                    "SELECT value FROM key_store_facts WHERE name = 'secret_check'"
                ).fetchone()
        except psycopg.Error as error:
            raise ConfigError(
                f"cannot open the key store at {self.where}: {error}".strip(),
                hint="check BAWABA_KEY_STORE_URL (postgresql://user:password@host:port/db) "
                "and that the server accepts this user",
            ) from None
        if row is None or not hmac.compare_digest(str(row[0]), check):
            raise ConfigError(
                f"the key store at {self.where} was made with another store secret",
                hint="give every replica and `bawaba keys` the same BAWABA_KEY_STORE_SECRET "
                "(the one the store was made with): keys are kept as keyed hashes under it",
            )

    def close(self) -> None:
        self._pool.close()

    def version(self) -> int:
        """Moves with any change announced by PostgreSQL, and at once with this process's
        own writes."""
        return self._changes.version()

    def _wrote(self) -> None:
        self._changes.wrote()

    def _hash(self, key: str) -> bytes:
        return hmac.digest(self._secret, key.encode(), "sha256")

    def _read(self, key_id: str) -> tuple[ApiKey, bytes] | None:
        with self._pool.connection() as db:
            row = db.execute(_SELECT_KEY + " WHERE id = %s", (key_id,)).fetchone()
        return None if row is None else (_key(row), bytes(row[6]))

    # --- administration ----------------------------------------------------------------

    def create(self, org: str, plan: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
        key_id = new_key_id()
        key = new_key_text(key_id)
        with self._pool.connection() as db:
            db.execute(
                "INSERT INTO keys (id, org, plan, secret_hash, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key_id, org, plan, self._hash(key), datetime.now(UTC), expires_at),
            )
        self._wrote()
        return self.get(key_id), key

    def get(self, key_id: str) -> ApiKey:
        found = self._read(key_id)
        if found is None:
            raise KeyNotFound(f"no key {key_id!r}", hint="`bawaba keys list` shows the keys")
        return found[0]

    def list(self) -> list[ApiKey]:
        with self._pool.connection() as db:
            rows = db.execute(_SELECT_KEY + " ORDER BY created_at, id").fetchall()
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        self.get(key_id)
        with self._pool.connection() as db:
            db.execute(
                "UPDATE keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (datetime.now(UTC), key_id),
            )
        self._wrote()
        return self.get(key_id)

    def rotate(self, key_id: str) -> tuple[ApiKey, str]:
        key = self.get(key_id)
        text = new_key_text(key_id)
        changed = 0
        if key.revoked_at is None:
            with self._pool.connection() as db:
                # Not if it was revoked since it was read: a revoked key stays unusable.
                changed = db.execute(
                    "UPDATE keys SET secret_hash = %s, rotated_at = %s "
                    "WHERE id = %s AND revoked_at IS NULL",
                    (self._hash(text), datetime.now(UTC), key_id),
                ).rowcount
            self._wrote()
        if not changed:
            raise BawabaError(
                f"key {key.prefix} is revoked", hint="create a new key instead", slug="revoked-key"
            )
        return key, text

    # --- checking a presented key ------------------------------------------------------

    def verify(self, key_id: str, presented: str) -> ApiKey | None:
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
        if not counts:
            return
        with self._pool.connection() as db, db.transaction(), db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO usage (key_id, month, dataset, requests, rows, bytes) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key_id, month, dataset) DO UPDATE "
                "SET requests = usage.requests + excluded.requests, "
                "rows = usage.rows + excluded.rows, bytes = usage.bytes + excluded.bytes",
                [(*where, u.requests, u.rows, u.bytes) for where, u in counts.items()],
            )

    def usage(self, key_id: str, month: str) -> dict[str, Usage]:
        with self._pool.connection() as db:
            rows = db.execute(
                "SELECT dataset, requests, rows, bytes FROM usage WHERE key_id = %s AND month = %s",
                (key_id, month),
            ).fetchall()
        return {dataset: Usage(r, n, b) for dataset, r, n, b in rows}

    # --- token signing keys ------------------------------------------------------------

    def quotas(self) -> PostgresQuotas:
        """Monthly quotas in this database, counted where every replica sees them."""
        return PostgresQuotas(self._pool)

    def signing_keys(self) -> PostgresSigningKeys:
        return PostgresSigningKeys(self)

    def _signing_secret(self, seed: str) -> str:
        derived = hmac.digest(self._secret, b"token signing key " + seed.encode(), "sha256")
        return base64.urlsafe_b64encode(derived).decode().rstrip("=")

    def read_signing_keys(self) -> dict[str, str]:
        with self._pool.connection() as db:
            rows = db.execute("SELECT kid, seed FROM signing_keys ORDER BY created_at, kid")
            return {kid: self._signing_secret(seed) for kid, seed in rows}

    def rotate_signing_keys(self, keep: int) -> str:
        kid = new_kid()
        with self._pool.connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SIGNING_LOCK,))
            db.execute(
                "INSERT INTO signing_keys (kid, seed, created_at) "
                "VALUES (%s, %s, clock_timestamp())",
                (kid, secrets.token_urlsafe(32)),
            )
            db.execute(
                "DELETE FROM signing_keys WHERE kid NOT IN (SELECT kid FROM signing_keys "
                "ORDER BY created_at DESC, kid DESC LIMIT %s)",
                (keep,),
            )
        self._wrote()
        return kid


class PostgresSigningKeys:
    """The store's token signing keys (``bawaba.core.key_store.SigningKeys``)."""

    def __init__(self, store: PostgresKeyStore) -> None:
        self._store = store

    def version(self) -> int:
        return self._store.version()

    def read(self) -> dict[str, str]:
        return self._store.read_signing_keys()

    def rotate(self, keep: int) -> str:
        return self._store.rotate_signing_keys(keep)
