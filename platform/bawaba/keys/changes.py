"""Whether any connection committed to a SQLite database in WAL mode, told in one ``pread``.

``PRAGMA data_version`` answers this exactly, but it is a statement on a connection, and it
was the largest part of a keyed request's extra cost (bench/auth.py). Every commit in WAL
mode rewrites the WAL-index header at the start of the database's ``-shm`` file (SQLite's
documented format, https://sqlite.org/walformat.html): its frame count, salts and checksums
move with each transaction, whichever connection or process made it. So the header read
with one ``pread`` and compared with the one seen before tells "unchanged" cheaply; any
difference, or a header that cannot be read, is answered by ``PRAGMA data_version`` as
before. The comparison can only err towards asking SQLite, never towards missing a commit.

The ``-shm`` file is only truncated, deleted or re-created when no connection has the
database open, so a reader holds one of its own (``anchor``) for as long as it reads.
Its descriptor is never closed: closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's own on the same file included.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

WAL_INDEX_HEADER = 48
"""Bytes in one copy of the WAL-index header, the first thing in the ``-shm`` file."""

_descriptors: dict[tuple[int, int], int] = {}
"""Open ``-shm`` files by (device, inode), for the life of the process (see above)."""
_descriptors_lock = threading.Lock()


def _descriptor(shm: Path) -> int | None:
    """A descriptor of ``shm``, or None if it cannot be read (every question then goes to
    SQLite)."""
    try:
        status = shm.stat()
        identity = (status.st_dev, status.st_ino)
        with _descriptors_lock:
            if identity not in _descriptors:
                _descriptors[identity] = os.open(shm, os.O_RDONLY | os.O_CLOEXEC)
            return _descriptors[identity]
    except OSError:
        return None


class CommitWatch:
    """A counter that moves whenever a commit may have happened since the last look.

    One per connection: ``anchor`` must stay open while the watch is used, and its
    ``data_version`` settles every doubt. Not for use from more than one thread."""

    def __init__(self, database: Path, anchor: sqlite3.Connection) -> None:
        self._anchor = anchor
        self._question = anchor.cursor()  # asked often: one cursor, reused
        self._version = self._data_version()
        self._descriptor = _descriptor(database.with_name(database.name + "-shm"))
        self._header = self._read_header()

    def version(self) -> int:
        header = self._read_header()
        if header is None or header != self._header:
            self._header = header
            self._version = self._data_version()
        return self._version

    def _data_version(self) -> int:
        version: int = self._question.execute("PRAGMA data_version").fetchone()[0]
        return version

    def _read_header(self) -> bytes | None:
        if self._descriptor is None:
            return None
        header = os.pread(self._descriptor, WAL_INDEX_HEADER, 0)
        return header if len(header) == WAL_INDEX_HEADER else None
