"""Releases in a local folder: the embedded default (``BAWABA_DATASETS_DIR``).

The layout and every byte are those of ``bawaba.core.versions``: a version folder is
staged beside the others and renamed into place, ``current.json`` is replaced atomically,
and one publisher at a time holds the folder's lock (a second one fails at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from bawaba.core import versions
from bawaba.core.release_storage import Pointer, PublishBusy


class LocalFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._release: versions.Release | None = None

    def read_pointer(self) -> Pointer | None:
        release = versions.read_release(self.root)
        return None if release is None else Pointer(release, tag="")

    def current_release(self) -> versions.Release | None:
        """Re-read if ``current.json`` was replaced since last time (a stat per call)."""
        try:
            stat = (self.root / versions.CURRENT).stat()
            seen = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            with self._lock:
                self._release = versions.read_release(self.root) if seen else None
                self._seen = seen
        return self._release

    def read_object(self, dataset: str, version: str, name: str) -> bytes | None:
        try:
            return (self.root / dataset / version / name).read_bytes()
        except FileNotFoundError:
            return None

    def local_file(self, dataset: str, version: str, name: str) -> Path:
        return self.root / dataset / version / name

    def query_source(self, dataset: str, version: str, name: str, size: int) -> Path:
        return self.local_file(dataset, version, name)

    def prepare_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Local files need nothing."""

    def versions_of(self, dataset: str) -> list[str]:
        return versions.versions_of(self.root, dataset)

    def next_version(self, dataset: str) -> str:
        return versions.next_version(self.root, dataset)

    def staging_dir(self) -> Path:
        return self.root / ".staging"

    def write_version(self, staged: Path, dataset: str, version: str) -> None:
        versions.install_version(staged, self.root, dataset, version)

    def switch_pointer(self, release: versions.Release, previous: Pointer | None) -> None:
        # The folder's lock keeps every other publisher out: nothing to compare.
        versions.switch_release(self.root, release)

    def sweep(self, current: versions.Release | None, keep: int) -> None:
        versions.sweep(self.root, current, keep)

    @contextlib.contextmanager
    def publishing(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PublishBusy("another publish is running", hint="wait for it") from None
            yield

    def presigned_url(self, dataset: str, version: str, name: str, seconds: int) -> str | None:
        return None
