"""Child servers on loopback: a free port, a readiness poll, and a process stopped however
the block that started it ends (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

STOP_S = 10.0


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> Callable[[], bool]:
    """Whether something accepts connections on 127.0.0.1:``port``."""

    def check() -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    return check


def wait_until(
    ready: Callable[[], bool],
    what: str,
    process: subprocess.Popen[bytes],
    timeout_s: float = 60.0,
    log: Path | None = None,
) -> None:
    """Poll ``ready`` until it holds; fail naming ``what`` (and the end of its log) if the
    process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode} before it was ready{_tail(log)}"
            )
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout_s:g} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers; a process already gone is left as it is."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(
    command: list[str],
    what: str,
    ready: Callable[[], bool],
    log: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the block ends, its output in ``log``. In a session of
    its own: a Ctrl+C at the terminal is the parent's to act on, and it stops its servers
    in order (replicas before the services they use) rather than all at once."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        # The commands are the cluster's own servers, never user input.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            wait_until(ready, what, process, timeout_s, log)
            yield process
        finally:
            stop(process)


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with ``variables`` set until the block ends, then as it
    was (the AWS variables that point this process's clients at a local S3 server)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
