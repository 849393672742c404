"""A bounded local read-through cache of version objects.

A version's objects never change once written, so a copy on local disk never goes stale
and needs no revalidation: the first reader fetches the object (into a temporary beside
the target, renamed when whole), later readers open the copy. When the folder outgrows its
budget the least recently read copies go first; the copy just fetched always stays, so one
object larger than the budget is still served (and is the first to go next time). The
folder may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

Fetch = Callable[[str, Path], bool]
"""Writes the object ``key`` to the path; False if there is no such object."""


class ObjectCache:
    def __init__(self, folder: Path, max_bytes: int, fetch: Fetch) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._fetch = fetch
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def path_of(self, key: str) -> Path:
        # Keys are the storage's own (``<prefix><dataset>/<version>/<name>``), never
        # request text; the nesting keeps them apart without escaping.
        return self.folder / key

    def get(self, key: str) -> Path | None:
        """A local copy of ``key``, fetched first if there is none; None if the object
        does not exist."""
        target = self.path_of(key)
        if _touch(target):
            return target
        with self._lock_for(key):
            if _touch(target):
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
            try:
                if not self._fetch(key, partial):
                    return None
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
                with self._guard:
                    self._locks.pop(key, None)
        self._sweep(keep=target)
        return target

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _sweep(self, keep: Path) -> None:
        """Least recently read first out, until the folder fits its budget."""
        files = []
        for path in self.folder.rglob("*"):
            if path.name.startswith("."):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                if path.is_file():
                    files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size


def _touch(path: Path) -> bool:
    """Mark ``path`` as just read; False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True
