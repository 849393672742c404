"""The key store, quotas, usage meter and signing keys the settings ask for: SQLite and a
file by default, PostgreSQL when ``BAWABA_KEY_STORE_URL`` is set, quotas and usage in Redis
when ``BAWABA_RATE_LIMIT_STORAGE_URI`` names one (each driver imported only then)."""

from __future__ import annotations

from bawaba.core.key_store import KeyStore, SigningKeys
from bawaba.core.redis_client import connect, is_redis
from bawaba.keys.quotas import QuotaCounter, SQLiteQuotas
from bawaba.keys.store import KeyStore as SqliteKeyStore
from bawaba.keys.tokens import FileSigningKeys
from bawaba.keys.usage import Meter
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
    """Where monthly quotas are counted: in the Redis the rate limits are counted in when
    there is one, else in the key store; so that every process that serves its keys counts
    against the same numbers."""
    if is_redis(settings.rate_limit_storage_uri):
        from bawaba.keys.redis_quotas import RedisQuotas

        return RedisQuotas(connect(settings.rate_limit_storage_uri), store)
    if settings.key_store_url is None:
        return SQLiteQuotas(settings.key_store_path)
    from bawaba.keys.postgres_store import PostgresKeyStore

    assert isinstance(store, PostgresKeyStore)
    return store.quotas()


def open_meter(settings: Settings, store: KeyStore, quotas: QuotaCounter) -> Meter:
    """The usage meter: into the key store every ``usage_flush_s``, and with Redis into the
    quotas' hash as each request ends too (``keys.redis_quotas``)."""
    if is_redis(settings.rate_limit_storage_uri):
        from bawaba.keys.redis_quotas import RedisMeter, RedisQuotas

        assert isinstance(quotas, RedisQuotas)
        return RedisMeter(store, settings.usage_flush_s, quotas)
    return Meter(store, settings.usage_flush_s)
