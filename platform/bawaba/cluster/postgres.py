"""A throwaway PostgreSQL server: Debian's package, on a loopback port.

``postgres_server()`` runs ``initdb`` into a fresh folder, starts ``postgres`` on a free
127.0.0.1 port with that folder as its socket directory, and on exit stops it (fast
shutdown, then SIGKILL) and deletes the folder. Nothing is shared with a system cluster.

The binaries are taken from Debian's layout (``/usr/lib/postgresql/<major>/bin``), never from
PATH: a machine may carry stray links, and a fresh machine has none (``make postgresql``
installs the package; the tests install it themselves).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user that
Debian's package creates (``subprocess.Popen(user=…)``, so the pid is the server's own and no
wrapper sits between it and our signals). Its folder is made with ``mkdtemp`` rather than
under ``var/``: the server user must reach it, and a working folder may be private.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bawaba.cluster.processes import free_port
from bawaba.errors import ConfigError

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SUPERUSER = "bawaba"
STARTUP_S = 60.0
INITDB = ("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
# A throwaway cluster: nothing is worth an fsync.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# Each test database keeps a listening connection for the life of the test process
# (bawaba.keys.postgres_changes), beside its stores' pools.
MAX_CONNECTIONS = 300
INSTALL_HINT = "install Debian's package: `make postgresql` or `apt-get install -y postgresql`"


def installed_bin() -> Path | None:
    """The newest major version's bin folder of Debian's PostgreSQL, if any."""
    found = sorted(
        (p for p in DEBIAN_BINARIES.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def require_bin() -> Path:
    found = installed_bin()
    if found is None:
        raise ConfigError(f"PostgreSQL is not installed under {DEBIAN_BINARIES}", hint=INSTALL_HINT)
    return found


@dataclass
class PostgresServer:
    """A running throwaway server; ``url(name)`` is a database on it."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """A new, empty database's URL."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    @property
    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass(frozen=True)
class Account:
    """Who the server runs as: Debian's ``postgres`` user when we are root, else ourselves."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_server(cls) -> Account:
        if os.geteuid() != 0:
            return cls()
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ConfigError(
                "running as root, but there is no `postgres` user to run the server as",
                hint=INSTALL_HINT,
            ) from None
        return cls(account.pw_uid, account.pw_gid)

    def give(self, descriptor_or_path: int | Path) -> None:
        if self.uid is None or self.gid is None:
            return
        if isinstance(descriptor_or_path, int):
            os.fchown(descriptor_or_path, self.uid, self.gid)
        else:
            os.chown(descriptor_or_path, self.uid, self.gid)

    def run(self, command: list[str | Path], **options: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]  # noqa: S603
            command,
            user=self.uid,
            group=self.gid,
            extra_groups=None if self.uid is None else [],
            **options,
        )


@contextmanager
def postgres_server(binaries: Path | None = None) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on a free loopback port, removed when the block ends."""
    binaries = binaries or require_bin()
    account = Account.for_server()
    folder = Path(tempfile.mkdtemp(prefix="bawaba-pg-"))
    account.give(folder)
    data = folder / "data"
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = account.run(
            [binaries / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", *INITDB],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output, _ = initdb.communicate(timeout=STARTUP_S)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{output.decode(errors='replace')}")
        port = free_port()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}"]
        for setting in (*FAST, f"max_connections={MAX_CONNECTIONS}"):
            options += ["-c", setting]
        with (folder / "server.log").open("wb") as log:
            account.give(log.fileno())
            process = account.run(
                [binaries / "postgres", "-D", data, "-p", str(port), *options],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped by us, not by the terminal's Ctrl+C
            )
        server = PostgresServer(port, process, folder)
        _wait_until_ready(server)
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited at start:\n{server.log}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                message = f"postgres did not start in {STARTUP_S} s:\n{server.log}"
                raise RuntimeError(message) from error
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: clients are disconnected), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
