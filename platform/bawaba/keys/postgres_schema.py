"""The PostgreSQL key store's schema, built by ordered migrations applied when a store opens.

Each migration runs once, in order, in the same transaction as its row in
``key_store_migrations``: a migration is applied completely or not at all (PostgreSQL's DDL
is transactional). Every replica migrates when it starts, so the whole step holds a
transaction-level advisory lock: replicas starting together wait for the first, then find
nothing left to do. A database migrated by a newer Bawaba than this one is refused rather
than used half-understood.

Migrations are only ever appended: a released one is never edited, since databases that
ran it will not run it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow

from bawaba.errors import ConfigError

MIGRATION_LOCK = 0x62617761_6B657931
"""Advisory lock id held while migrating ("bawakey1" in hex): the same in every replica."""
CHANNEL = "bawaba_keys"
"""What every change to keys or signing keys is announced on (LISTEN/NOTIFY)."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "keys and their monthly usage, as in the SQLite store",
        """
        CREATE TABLE keys (
            id          text PRIMARY KEY,
            org         text NOT NULL,
            plan        text NOT NULL,
            secret_hash bytea NOT NULL,
            created_at  timestamptz NOT NULL,
            expires_at  timestamptz,
            revoked_at  timestamptz,
            rotated_at  timestamptz
        );
        CREATE TABLE usage (
            key_id   text NOT NULL REFERENCES keys (id),
            month    text NOT NULL,
            dataset  text NOT NULL,
            requests bigint NOT NULL DEFAULT 0,
            rows     bigint NOT NULL DEFAULT 0,
            bytes    bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, month, dataset)
        );
        CREATE TABLE key_store_facts (
            name  text PRIMARY KEY,
            value text NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "token signing keys, with a first one",
        # Only a seed is stored; the signing secret is derived from it under the store
        # secret (postgres_store.py), so a copy of the database alone cannot mint tokens.
        # gen_random_uuid() draws from the server's strong random source.
        """
        CREATE TABLE signing_keys (
            kid        text PRIMARY KEY,
            seed       text NOT NULL,
            created_at timestamptz NOT NULL
        );
        INSERT INTO signing_keys (kid, seed, created_at)
        SELECT 'k' || floor(extract(epoch FROM now()))::bigint
                   || substr(replace(gen_random_uuid()::text, '-', ''), 1, 4),
               replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
               now();
        """,
    ),
    Migration(
        3,
        "announce every change to keys and signing keys to the replicas",
        # A statement-level trigger, so that any change is announced, even one made by hand
        # in psql; notifications are sent at commit, and only if it commits.
        f"""
        CREATE FUNCTION bawaba_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER keys_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON keys
            FOR EACH STATEMENT EXECUTE FUNCTION bawaba_keys_changed();
        CREATE TRIGGER signing_keys_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
            FOR EACH STATEMENT EXECUTE FUNCTION bawaba_keys_changed();
        """,
    ),
    Migration(
        4,
        "monthly quotas counted where every replica sees them (keys/postgres_quotas.py)",
        """
        CREATE TABLE quota_use (
            key_id   text NOT NULL REFERENCES keys (id),
            month    text NOT NULL,
            requests bigint NOT NULL,
            rows     bigint NOT NULL,
            granted  bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, month)
        );
        """,
    ),
)
LATEST = MIGRATIONS[-1].version


def migrate(connection: psycopg.Connection[TupleRow]) -> list[int]:
    """Apply the migrations this database lacks, in order; the versions applied now."""
    applied_now: list[int] = []
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS key_store_migrations ("
            " version integer PRIMARY KEY,"
            " description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            int(row[0]) for row in connection.execute("SELECT version FROM key_store_migrations")
        }
        if done and max(done) > LATEST:
            raise ConfigError(
                f"the key store's schema is at version {max(done)}, newer than this Bawaba "
                f"knows (up to {LATEST})",
                hint="run the Bawaba version that migrated it, or a newer one",
            )
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            connection.execute(migration.sql.encode())
            connection.execute(
                "INSERT INTO key_store_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied_now.append(migration.version)
    return applied_now
