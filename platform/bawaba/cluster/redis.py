"""A throwaway Redis for the demo cluster and the tests: Debian's ``redis-server`` on
loopback with nothing persisted (no snapshot, no append-only file), so its counts die with
it. An installation points ``BAWABA_RATE_LIMIT_STORAGE_URI`` at its own Redis instead.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bawaba.cluster.processes import free_port, running
from bawaba.errors import ConfigError

REDIS_SERVER = Path("/usr/bin/redis-server")
INSTALL_HINT = "install Debian's package: `make redis` or `apt-get install -y redis-server`"


@dataclass(frozen=True)
class RedisServer:
    """A running Redis on loopback: its URL, per database number."""

    port: int

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"


def require_redis(binary: Path = REDIS_SERVER) -> Path:
    if not binary.exists():
        raise ConfigError(f"redis-server is not installed at {binary}", hint=INSTALL_HINT)
    return binary


def _answers_ping(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return check


@contextmanager
def redis_server(
    folder: Path, binary: Path = REDIS_SERVER, port: int | None = None
) -> Iterator[RedisServer]:
    """``redis-server`` on ``port`` of loopback (a free one if not given) until the block
    ends, its log in ``folder``."""
    port = port or free_port()
    command = [
        str(require_redis(binary)),
        *("--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no"),
        *("--dir", str(folder), "--logfile", ""),
    ]
    with running(command, "redis-server", _answers_ping(port), folder / "redis.log"):
        yield RedisServer(port)
