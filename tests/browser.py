"""Headless Chromium for the browser tests: Debian's package, driven by Playwright.

Playwright's own browser download cannot work here (no internet beyond the package
registries), so the tests use ``/usr/bin/chromium`` and install it from Debian when it is
missing, as ``make test`` does too; a lock file keeps two pytest workers from running apt
at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying hosts this machine cannot
# reach; --no-sandbox because the tests run as root in a container.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LOCK = Path("/tmp/bawaba-apt-chromium.lock")


def ensure_chromium() -> Path:
    """The Chromium binary, installed with apt-get if it is not there yet."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(
            f"{CHROMIUM} is missing and cannot be installed here: "
            "run `apt-get install -y chromium` as root (Debian's package)"
        )
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CHROMIUM.exists():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return CHROMIUM
