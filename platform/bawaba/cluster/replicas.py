"""``bawaba serve`` replicas: separate processes that share nothing but the services they
are pointed at, as replicas on separate machines would.

Each replica has its own ``BAWABA_VAR_DIR`` (caches, local copies of objects): nothing on
its disk is another's. What they share is named in ``Shared``: releases on object storage,
keys, quotas and usage in PostgreSQL, the rate-limit counters, and the one proxy address
whose ``X-Forwarded-For`` they believe.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bawaba.cluster.processes import free_port, running


@dataclass(frozen=True)
class Shared:
    """What every replica of one installation points at."""

    datasets_url: str
    key_store_url: str
    key_store_secret: str
    """The same on every replica: keys are hashed and tokens signed under it."""
    rate_limit_storage_uri: str
    """One counter store for all: ``lmdb:///path`` is exact across the processes of one
    machine; replicas on several machines need a store they all reach."""
    trusted_proxies: str = "127.0.0.1"
    extra: Mapping[str, str] = field(default_factory=dict)
    """Anything else every replica is given: the object store's AWS variables, limits."""

    def env(self, base: Mapping[str, str], var_dir: Path) -> dict[str, str]:
        """``base`` (the caller's environment) with this installation's settings, for a
        replica whose own working folder is ``var_dir``."""
        return {
            **base,
            **self.extra,
            "BAWABA_VAR_DIR": str(var_dir),
            "BAWABA_DATASETS_URL": self.datasets_url,
            "BAWABA_KEY_STORE_URL": self.key_store_url,
            "BAWABA_KEY_STORE_SECRET": self.key_store_secret,
            "BAWABA_RATE_LIMIT_STORAGE_URI": self.rate_limit_storage_uri,
            "BAWABA_TRUSTED_PROXIES": self.trusted_proxies,
        }


@dataclass(frozen=True)
class Replica:
    """A running ``bawaba serve``: where it listens, and its process (to stop or kill)."""

    address: str
    """``127.0.0.1:port``, as nginx's upstream names it."""
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def replica(env: Mapping[str, str], folder: Path, port: int | None = None) -> Iterator[Replica]:
    """``bawaba serve`` on 127.0.0.1:``port`` (a free one unless given) with ``env``, its
    output in ``folder``, until the block ends."""
    port = port or free_port()
    address = f"127.0.0.1:{port}"
    log = folder / f"replica-{port}.log"
    command = [sys.executable, "-m", "bawaba.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with running(
        command, f"replica {address}", lambda: _healthy(f"http://{address}"), log, dict(env)
    ) as process:
        yield Replica(address, process, log)
