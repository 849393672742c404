"""Downloads: a file on disk for every answer, served with HTTP ranges.

(On object storage a whole-version Parquet may instead be a redirect to a presigned URL of
the object: ``BAWABA_DOWNLOAD_REDIRECT_S``.)

A whole dataset in Parquet is the published file itself. Any other download (a filtered
one, or CSV/JSON) is written once by DuckDB's COPY into ``var/cache/downloads`` under its
ETag, then served as a file: constant memory whatever its size, no row cap, a
``Content-Length``, and ``HEAD``/``Range`` for free, so DuckDB, Polars and pandas can read
the URL directly. The cache is bounded on disk and may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send

from bawaba.core.versions import DATA
from bawaba.serving.caching import fingerprint
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.problems import JSON, error_body
from bawaba.serving.query import Compiled, Rows, compile_count, compile_rows

MAX_COUNTS_KEPT = 50_000


@dataclass(frozen=True)
class Format:
    extension: str
    media_type: str
    copy_options: str
    """A fixed COPY clause: never built from a request."""


FORMATS: dict[str, Format] = {
    "csv": Format("csv", "text/csv; charset=utf-8", "FORMAT csv, HEADER true"),
    "json": Format("json", "application/json", "FORMAT json, ARRAY true"),
    "parquet": Format(
        "parquet",
        "application/vnd.apache.parquet",
        "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880",
    ),
}


RANGE_PROBLEMS = {
    400: ("bad-range", "give one or more byte ranges: `Range: bytes=START-END`"),
    416: ("range-not-satisfiable", "the file's size is in Content-Range: ask within it"),
}


HELD_BYTES = 256 * 1024
"""A download file this small is read whole where it is opened, and sent from memory."""


class DownloadFile(FileResponse):
    """A file with Starlette's handling of ``Range``, whose refusals (a malformed header:
    400; a range past the end: 416) it answers in plain text: they leave in the one error
    shape, with their ``Content-Range``.

    Starlette's FileResponse looks the file up, opens it, reads each 64 KiB and closes it
    in a worker thread, a hop there and back each time. ``opened`` does the lookup, and
    for a file of at most ``HELD_BYTES`` the whole read, in the one thread the caller runs
    it in, and such a file is then sent from memory unless a ``Range`` asks for part of it.
    """

    def __init__(self, *args: Any, held: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = held

    @classmethod
    def opened(cls, path: Path, *, media_type: str, headers: dict[str, str]) -> DownloadFile:
        """The answer for ``path`` (blocking: run it in a worker thread)."""
        with path.open("rb") as file:
            stat = os.fstat(file.fileno())
            held = file.read() if stat.st_size <= HELD_BYTES else None
        return cls(path, media_type=media_type, headers=headers, stat_result=stat, held=held)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.held is not None and "range" not in Headers(scope=scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send({"type": "http.response.body", "body": self.held})
            return
        refused: Message | None = None

        async def reword(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] in RANGE_PROBLEMS:
                refused = message
                return
            if refused is None:
                await send(message)
                return
            code, hint = RANGE_PROBLEMS[refused["status"]]
            said = bytes(message.get("body", b"")).decode(errors="replace").strip()
            body = error_body(code, f"Range: {said or 'the range is not within the file'}", hint)
            headers = MutableHeaders(raw=list(refused["headers"]))
            headers["content-type"] = JSON
            headers["content-length"] = str(len(body))
            await send({**refused, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await super().__call__(scope, receive, reword)


class Downloads:
    def __init__(self, folder: Path, max_bytes: int, engine: Engine) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.engine = engine
        self._locks: dict[str, threading.Lock] = {}
        self._counts: dict[str, int] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _whole(published: Published, rows: Rows) -> bool:
        columns = published.dataset.columns
        return not rows.filters and not rows.order and rows.columns in ((), columns)

    def rows_of(self, published: Published, rows: Rows, etag: str) -> int:
        """How many rows the download holds (counted once per ETag)."""
        if self._whole(published, rows):
            return published.manifest.rows
        with self._guard:
            known = self._counts.get(etag)
        if known is None:
            found = self.engine.scalar(published.path, compile_count(rows), "count")
            assert isinstance(found, int)
            known = found
            with self._guard:
                if len(self._counts) >= MAX_COUNTS_KEPT:
                    self._counts.clear()
                self._counts[etag] = known
        return known

    def redirect_for(
        self, published: Published, rows: Rows, fmt: Format, seconds: int
    ) -> str | None:
        """A presigned URL of the version's own Parquet object, for a whole-version Parquet
        download when redirects are on (``seconds`` > 0) and the storage signs URLs."""
        if not seconds or fmt.extension != "parquet" or not self._whole(published, rows):
            return None
        return published.storage.presigned_url(
            published.dataset.id, published.version, DATA, seconds
        )

    def answer(
        self,
        published: Published,
        rows: Rows,
        fmt: Format,
        etag: str,
        headers: dict[str, str],
        query: Compiled | None = None,
    ) -> DownloadFile:
        """The answer of this download (``file_for``'s file, ``DownloadFile.opened``), in
        one call for the one worker thread it blocks."""
        path = self.file_for(published, rows, fmt, etag, query)
        return DownloadFile.opened(path, media_type=fmt.media_type, headers=headers)

    def file_for(
        self,
        published: Published,
        rows: Rows,
        fmt: Format,
        etag: str,
        query: Compiled | None = None,
    ) -> Path:
        """The file holding this download, written first if it is not on disk yet.
        ``query`` replaces the rows' own (the changes since a version, for one)."""
        dataset = published.dataset
        if query is None and self._whole(published, rows) and fmt.extension == "parquet":
            return published.storage.local_file(published.dataset.id, published.version, DATA)
        name = f"{dataset.id}-{published.version}-{fingerprint(etag)}.{fmt.extension}"
        target = self.folder / name
        if self._touch(target):
            return target
        with self._lock_for(name):
            if self._touch(target):
                return target
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{name}.{uuid.uuid4().hex}.part"
            try:
                self.engine.copy(
                    published.path, query or compile_rows(dataset, rows), partial, fmt.copy_options
                )
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
                with self._guard:
                    self._locks.pop(name, None)
        self._sweep(keep=target)
        return target

    @staticmethod
    def _touch(path: Path) -> bool:
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _sweep(self, keep: Path) -> None:
        """Least recently served first out, until the folder fits its budget."""
        files = []
        for path in self.folder.glob("*.*"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
