"""The Redis that rate limits, quotas and usage are counted in past one machine
(``BAWABA_RATE_LIMIT_STORAGE_URI=redis://…``, ``rediss://…`` or ``unix://…``).

Imported only when the setting names Redis, like the PostgreSQL driver. Every replica opens
one client (a thread-safe connection pool) per counter; the counters themselves are Lua
scripts (``bawaba.core.redis_windows``, ``bawaba.keys.redis_quotas``), so each check is one
atomic round trip and two replicas can never both take the last request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from bawaba.errors import BawabaError, ConfigError

if TYPE_CHECKING:
    import redis

P = ParamSpec("P")
R = TypeVar("R")
SCHEMES = ("redis://", "rediss://", "unix://")
SETTING = "BAWABA_RATE_LIMIT_STORAGE_URI"
PREFIX = "bawaba:"
"""Every key the platform writes starts so (the URI's database number keeps installations
sharing one server apart)."""
TIMEOUT_S = 5.0
"""A Redis that does not answer within this fails the request rather than hanging it."""
RETRY_AFTER_S = 5
"""What a request refused because Redis does not answer is told to wait."""


class CountersUnavailable(BawabaError):
    """The shared counters of rate limits and quotas stopped answering: the request is
    refused, not served uncounted. The API answers it with ``status`` and ``headers``
    (``serving.problems.error_response``)."""

    slug = "counters-unavailable"
    status = 503
    headers = {"Retry-After": str(RETRY_AFTER_S)}  # noqa: RUF012 - read, never changed


def is_redis(uri: str) -> bool:
    return uri.startswith(SCHEMES)


def shown(uri: str) -> str:
    """``uri`` without its password, fit for an error message or a log."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def connect(uri: str) -> redis.Redis:
    """A client of the Redis at ``uri``, checked with a PING: a replica that cannot count
    refuses to start rather than answering every request with an error."""
    import redis

    try:
        client = redis.Redis.from_url(
            uri,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            health_check_interval=30,
        )
        client.ping()
    except (redis.RedisError, ValueError) as error:
        raise ConfigError(
            f"{SETTING} = {shown(uri)!r}: cannot reach Redis: {error}",
            hint="start Redis there, or use lmdb:// to count on this machine alone",
        ) from None
    return client


def answering(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` (of a counter in Redis), with Redis failing mid-request answered as a 503
    in the API's error shape, which the caller may retry, rather than a 500."""
    import redis

    @functools.wraps(method)
    def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as error:
            raise CountersUnavailable(
                f"the rate-limit and quota counters do not answer ({type(error).__name__})",
                hint=f"retry in {RETRY_AFTER_S} s; the request was not served or counted",
            ) from error

    return counted
