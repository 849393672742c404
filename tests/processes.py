"""Killing a command at a chosen point of its work, and proving it was killed there."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def kill_when(
    process: subprocess.Popen[bytes], reached: Callable[[], bool], timeout_s: float = 300
) -> None:
    """SIGKILL ``process`` as soon as ``reached()`` holds; fails if it ends first (a kill
    after the work is done proves nothing) or was not killed by the signal."""
    deadline = time.monotonic() + timeout_s
    while not reached():
        assert process.poll() is None, "the command ended before the point it was to be killed at"
        assert time.monotonic() < deadline, "the command never reached the point"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "killed mid-way, not finished"
