"""Real servers for the cluster tests, started on loopback and stopped afterwards.

Each launcher is a context manager that starts one server on a free 127.0.0.1 port, waits
until it answers, yields how to reach it, and stops it (SIGTERM, then SIGKILL) however the
block ends. Servers that come from Debian's packages (redis-server, postgresql, nginx) are
installed with apt-get when missing, as ``ensure_debian_package`` does, and as the Makefile
does for a fresh machine; servers from PyPI (moto's S3 server) come with the dev extra.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bawaba.cluster.processes import free_port, listening, running
from bawaba.cluster.redis import REDIS_SERVER, RedisServer
from bawaba.cluster.redis import redis_server as launch_redis
from bawaba.cluster.s3 import S3Endpoint, moto_s3

__all__ = [
    "ObjectStore",
    "RedisServer",
    "ensure_debian_package",
    "free_port",
    "listening",
    "moto_server",
    "nginx",
    "redis_server",
    "running",
]

_APT_LOCK = Path("/tmp/bawaba-apt.lock")


def ensure_debian_package(binary: Path, package: str) -> Path:
    """``binary``, installed from Debian's ``package`` with apt-get if it is missing (one
    pytest worker at a time: a lock file keeps two from running apt at once)."""
    if binary.exists():
        return binary
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(f"{binary} is missing: run `apt-get install -y {package}` as root")
    with _APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    return binary


ObjectStore = S3Endpoint
"""An S3-compatible server: its endpoint and the credentials it accepts."""


@contextmanager
def moto_server(log_dir: Path) -> Iterator[S3Endpoint]:
    """moto's standalone S3 server (the dev extra) on a free loopback port. Its conditional
    writes (If-None-Match: *, If-Match) answer 412 as AWS S3 does."""
    with moto_s3(log_dir) as store:
        yield store


@contextmanager
def redis_server(log_dir: Path, port: int | None = None) -> Iterator[RedisServer]:
    """Debian's redis-server (installed when missing) on ``port`` of loopback (a free one
    if not given), nothing persisted."""
    binary = ensure_debian_package(REDIS_SERVER, "redis-server")
    with launch_redis(log_dir, binary, port) as server:
        yield server


# --- nginx in front of API replicas (bawaba.cluster.nginx: the demo cluster's own) -------


@contextmanager
def nginx(folder: Path, replicas: list[str]) -> Iterator[Any]:
    """Debian's nginx (installed when missing) on a free loopback port in front of
    ``replicas`` (``host:port`` each), configured from the template the demo cluster uses;
    yields a ``bawaba.cluster.nginx.Proxy``."""
    from bawaba.cluster.nginx import NGINX, nginx_proxy

    binary = ensure_debian_package(NGINX, "nginx")
    with nginx_proxy(folder, replicas, binary=binary) as proxy:
        yield proxy
