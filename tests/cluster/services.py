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
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bawaba.cluster.redis import REDIS_SERVER, RedisServer
from bawaba.cluster.redis import redis_server as launch_redis

BIN = Path(sys.executable).parent
_APT_LOCK = Path("/tmp/bawaba-apt.lock")


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0
) -> None:
    """Poll ``ready`` until it holds; fail naming ``what`` if the process exits or time
    runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout_s:g} s")


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    return check


@contextmanager
def running(
    command: list[str],
    what: str,
    ready: Callable[[], bool],
    log: Path,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the block ends, its output in ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until(ready, what, process)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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


@dataclass(frozen=True)
class ObjectStore:
    """An S3-compatible server: its endpoint and the credentials it accepts."""

    endpoint: str
    access_key: str = "bawaba-test"
    secret_key: str = "bawaba-test-secret"  # noqa: S105 - moto accepts any credentials
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The AWS variables a ``bawaba`` process reads to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@contextmanager
def moto_server(log_dir: Path) -> Iterator[ObjectStore]:
    """moto's standalone S3 server (from PyPI) on a free loopback port. Its conditional
    writes (If-None-Match: *, If-Match) answer 412 as AWS S3 does."""
    port = free_port()
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running(command, "moto_server", listening(port), log_dir / "moto.log"):
        yield ObjectStore(f"http://127.0.0.1:{port}")


@contextmanager
def redis_server(log_dir: Path) -> Iterator[RedisServer]:
    """Debian's redis-server (installed when missing) on a free loopback port, nothing
    persisted."""
    binary = ensure_debian_package(REDIS_SERVER, "redis-server")
    with launch_redis(log_dir, binary) as server:
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
