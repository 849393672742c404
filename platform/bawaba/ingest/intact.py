"""Whether a delivered file can be read whole, before any of its rows is trusted.

A file cut short in transfer, in the wrong encoding or with a malformed line cannot be read
row by row: the rows it still holds are not known to be all it should hold. Such a file is
quarantined whole (``department.check``), and the department's other files go on.

A department may deliver beside a file ``<file name>.manifest.json`` holding
``{"rows": <data rows>}``; a file whose row count disagrees with it is quarantined whole too.

``Broken.rows`` is what the report counts for a quarantined file, raw and quarantined alike:
the rows that could be read of it (complete CSV lines after the header, JSON lines that
parse as objects, a Parquet file's rows if its footer is readable, else 0).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bawaba.ingest.declarations import ExportFormat

MANIFEST_SUFFIX = ".manifest.json"
CHUNK_BYTES = 1 << 24


@dataclass(frozen=True)
class Broken:
    """A file that cannot be read whole: why (naming the file and the line), and its rows."""

    file: str
    message: str
    line: int | None
    rows: int


def check_file(fmt: ExportFormat, path: Path) -> Broken | None:
    """Why ``path`` cannot be read whole, or None when it can."""
    if fmt.reader == "csv":
        broken, rows = _csv(path)
    elif fmt.reader == "jsonl":
        broken, rows = _jsonl(path)
    else:
        broken, rows = _parquet(path)
    return broken or _against_manifest(path, rows)


def _csv(path: Path) -> tuple[Broken | None, int | None]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    newlines, last = 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line = newlines + chunk.count(b"\n", 0, error.start) + 1
                rows = newlines + chunk.count(b"\n", 0, error.start) - 1
                message = f"{path.name} line {line} is not UTF-8 text ({error.reason})"
                return Broken(path.name, message, line, max(rows, 0)), None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    rows = max(newlines - 1, 0)
    if last and last != b"\n":
        line = newlines + 1
        message = f"{path.name} line {line}, the last, is cut short (no end of line)"
        return Broken(path.name, message, line, rows), None
    # Only counted when a manifest asks: quoted fields may hold line breaks.
    return None, None


def _jsonl(path: Path) -> tuple[Broken | None, int]:
    first: tuple[int, str] | None = None
    rows = 0
    with path.open("rb") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError as error:
                first = first or (number, f"is not valid JSON ({error})")
                continue
            if not isinstance(record, dict):
                first = first or (number, "is not a JSON object")
                continue
            rows += 1
    if first is None:
        return None, rows
    line, fault = first
    return Broken(path.name, f"{path.name} line {line} {fault}", line, rows), rows


def _parquet(path: Path) -> tuple[Broken | None, int]:
    try:
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as error:
        return Broken(path.name, f"{path.name} is not a whole Parquet file ({error})", None, 0), 0
    return None, rows


def manifest_of(path: Path) -> Path:
    """Where the delivery manifest of ``path`` is, if the department sends one."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _against_manifest(path: Path, rows: int | None) -> Broken | None:
    manifest = manifest_of(path)
    if not manifest.is_file():
        return None
    try:
        declared = orjson.loads(manifest.read_bytes())["rows"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        declared = None
    if rows is None:
        rows = int(pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item())
    if not isinstance(declared, int) or isinstance(declared, bool):
        message = f"{path.name}: its manifest {manifest.name} does not give its rows as a number"
        return Broken(path.name, message, None, rows)
    if declared != rows:
        message = (
            f"{path.name} holds {rows} rows where its manifest {manifest.name} says {declared}"
        )
        return Broken(path.name, message, None, rows)
    return None
