"""A throwaway PostgreSQL server for the tests: ``bawaba.cluster.postgres`` (Debian's
package, on a loopback port, removed afterwards), installed with apt-get when missing.

The server itself is the platform's, as ``bawaba demo --cluster`` runs it; what is the tests'
own is installing the package on a fresh machine, as ``tests/browser.py`` installs Chromium:
a lock file keeps two pytest workers from running apt at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bawaba.cluster import postgres as platform_postgres
from bawaba.cluster.postgres import DEBIAN_BINARIES, PostgresServer
from bawaba.cluster.processes import free_port

__all__ = ["PostgresServer", "ensure_postgresql", "free_port", "postgres_server"]

_LOCK = Path("/tmp/bawaba-apt-postgresql.lock")


def ensure_postgresql() -> Path:
    """The folder holding ``initdb`` and ``postgres``, installed with apt-get if missing."""
    found = platform_postgres.installed_bin()
    if found is not None:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(
            "PostgreSQL is missing and cannot be installed here: run "
            "`apt-get install -y postgresql` as root (Debian's package)"
        )
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if platform_postgres.installed_bin() is None:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
                check=True,
                env=env,
            )
    found = platform_postgres.installed_bin()
    if found is None:
        pytest.fail(f"apt-get installed postgresql but no initdb is under {DEBIAN_BINARIES}")
    return found


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on a free loopback port, removed when the block ends."""
    with platform_postgres.postgres_server(ensure_postgresql()) as server:
        yield server
