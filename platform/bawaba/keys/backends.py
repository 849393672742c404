"""The key store, quotas and signing keys the settings ask for: SQLite and a file by default,
PostgreSQL when ``BAWABA_KEY_STORE_URL`` is set (imported only then)."""

from __future__ import annotations

from bawaba.core.key_store import KeyStore, SigningKeys
from bawaba.keys.quotas import QuotaCounter, SQLiteQuotas
from bawaba.keys.store import KeyStore as SqliteKeyStore
from bawaba.keys.tokens import FileSigningKeys
from bawaba.settings import Settings


def open_key_store(settings: Settings) -> KeyStore:
    if settings.key_store_url is None:
        return SqliteKeyStore.open(settings)
    from bawaba.keys.postgres_store import PostgresKeyStore

    return PostgresKeyStore.open(settings)


def open_signing_keys(settings: Settings, store: KeyStore) -> SigningKeys:
    """Where tokens' signing keys live: beside the keys in PostgreSQL, so that every
    replica has the same ones; in ``var/secrets/token-keys.json`` on one machine."""
    if settings.key_store_url is None:
        return FileSigningKeys(settings.secrets_dir / "token-keys.json")
    from bawaba.keys.postgres_store import PostgresKeyStore

    assert isinstance(store, PostgresKeyStore)
    return store.signing_keys()


def open_quotas(settings: Settings, store: KeyStore) -> QuotaCounter:
    """Where monthly quotas are counted: in the key store, so that every process that
    serves its keys counts against the same numbers."""
    if settings.key_store_url is None:
        return SQLiteQuotas(settings.key_store_path)
    from bawaba.keys.postgres_store import PostgresKeyStore

    assert isinstance(store, PostgresKeyStore)
    return store.quotas()
