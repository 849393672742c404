"""Atomic file primitives.

A reader must never see half a file: write beside the target, flush to disk, then
``os.replace``, which is atomic on POSIX when source and target are on the same file system
(always the case here: the temporary sits in the target's folder). The temporary is removed
on any error. A directory rename is atomic too, but only into a path that does not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

PUBLIC = 0o644
"""Readable by everyone, as every file of a release must be: the server reading it may run
as another user than the publisher that wrote it."""


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path, mode: int = 0o666) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block succeeds. The
    temporary is created with ``mode`` less the umask, as ``open`` creates a file (not
    owner-only, as ``tempfile.mkstemp`` would)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
            break
        except FileExistsError:
            continue
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        temporary.replace(target)
        fsync_dir(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` in one step. Without ``mode`` the file gets the
    permissions any new file gets (0o666 less the umask); with it, exactly ``mode``, set
    before any byte is written (0o600 for a secret)."""
    with atomic_path(target, 0o666 if mode is None else mode & 0o666) as temporary:
        if mode is not None:
            temporary.chmod(mode)
        temporary.write_bytes(data)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, for manifests and ledgers (never of a value)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def create_secret_file(path: Path) -> bool:
    """Write a new random secret to ``path``, readable by its owner only, unless the file
    exists (an existing secret is never replaced); True if it was created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return True
