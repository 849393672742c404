"""Reads a department's landed files a piece at a time and maps them onto canonical fields.

Everything is read as text first (dirty feeds put anything in any column); typed parsing is
the validator's job, so that a bad value becomes a quarantined row, not a crashed run.

A file is read in pieces of about a given number of rows, so that memory is bounded by the
piece, not by the file or the department: all-text columns cost several hundred bytes a
row, and one export (an HTTP pull, a year in one file) may hold millions. CSV and JSON lines
are cut at the last whole record of a block of bytes and each block is parsed on its own
(a CSV block with the file's header before it), so each record is parsed exactly as it
would be in one read of the whole file; Parquet is read a run of row groups at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bawaba.errors import BawabaError
from bawaba.ingest.contract import FIELDS
from bawaba.ingest.declarations import ExportFormat

FILE = "_file"
ROW = "_row"
# Enough of a text file to estimate its bytes per row.
SAMPLE_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"


class SchemaDrift(BawabaError):
    """A department's export lost a column its pipeline maps."""

    slug = "schema-drift"


@dataclass(frozen=True)
class Piece:
    """Consecutive rows of one file: every source column as delivered (text, or Parquet's
    own types)."""

    file: str
    rows: pl.DataFrame


def _scan(fmt: ExportFormat, path: Path) -> pl.LazyFrame:
    if fmt.reader == "csv":
        return pl.scan_csv(path, infer_schema=False)
    if fmt.reader == "jsonl":
        return pl.scan_ndjson(path, schema=_jsonl_schema(path))
    return pl.scan_parquet(path)


def _jsonl_schema(path: Path) -> dict[str, pl.DataType]:
    """Every field of the file's first record, as text."""
    with path.open("rb") as handle:
        first = handle.readline()
    record = orjson.loads(first) if first.strip() else {}
    if not isinstance(record, dict):
        raise SchemaDrift(f"{path.name}: the first line is not a JSON object")
    return {name: pl.String() for name in record}


def check_headers(fmt: ExportFormat, files: Sequence[Path]) -> None:
    """Refuses the department's files if one lost a column its pipeline maps.

    Every file's header is checked before any row is read, so a file that lost a column is
    named and nothing of the department is ingested; files may order their columns
    differently or leave out optional ones."""
    for path in files:
        present = set(_scan(fmt, path).collect_schema().names())
        missing = sorted(
            source
            for source, canonical in fmt.columns.items()
            if source not in present and canonical not in fmt.optional
        )
        if missing:
            raise SchemaDrift(
                f"{path.name} has no column {', '.join(repr(m) for m in missing)}",
                hint=f"columns present: {', '.join(sorted(present))}",
            )


def pieces(
    fmt: ExportFormat, path: Path, rows: int, *, block_bytes: int | None = None
) -> Iterator[Piece]:
    """``path`` in pieces of about ``rows`` rows (of text files: of about ``block_bytes``
    bytes, if given), in order."""
    if fmt.reader == "parquet":
        yield from _parquet_pieces(path, rows)
        return
    block = block_bytes or _block_bytes(path, rows)
    if fmt.reader == "jsonl":
        schema = _jsonl_schema(path)
        for data in _blocks(path, block, start=0, quoted=False):
            yield Piece(path.name, pl.read_ndjson(data, schema=schema))
        return
    with path.open("rb") as handle:
        header = handle.readline()
    for data in _blocks(path, block, start=len(header), quoted=True):
        frame = pl.read_csv(header.removeprefix(BOM) + data, infer_schema=False)
        yield Piece(path.name, frame)


def _block_bytes(path: Path, rows: int) -> int:
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    per_row = len(sample) / max(sample.count(b"\n"), 1)
    return max(int(per_row * rows), SAMPLE_BYTES)


def _record_end(data: bytes, quoted: bool) -> int:
    """Where the last whole record of ``data`` ends (after its line break), or 0.

    In CSV a line break inside a quoted field is part of the field: a line break ends a
    record only where the quotes before it (from a record's start) are balanced."""
    end = data.rfind(b"\n")
    while quoted and end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.rfind(b"\n", 0, end)
    return end + 1


def _blocks(path: Path, size: int, *, start: int, quoted: bool) -> Iterator[bytes]:
    """The file's bytes from ``start``, in blocks of whole records of about ``size`` bytes."""
    with path.open("rb") as handle:
        handle.seek(start)
        carry = b""
        while chunk := handle.read(size):
            data = carry + chunk
            end = _record_end(data, quoted)
            if data[:end].strip():
                yield data[:end]
            carry = data[end:]
        if carry.strip():
            yield carry


def _parquet_pieces(path: Path, rows: int) -> Iterator[Piece]:
    """Runs of whole row groups of about ``rows`` rows."""
    metadata = pq.read_metadata(path)
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    lazy = pl.scan_parquet(path)
    start = taken = 0
    for size in sizes:
        taken += size
        if taken >= rows:
            yield Piece(path.name, lazy.slice(start, taken).collect())
            start, taken = start + taken, 0
    if taken:
        yield Piece(path.name, lazy.slice(start, taken).collect())


def canonical(fmt: ExportFormat, piece: Piece, files: pl.Enum) -> pl.LazyFrame:
    """``piece`` as canonical fields (text, or typed for native timestamps) plus ``_file``
    (the file, as an enum of the department's files in the order they are read)."""
    present = set(piece.rows.columns)
    selected: list[pl.Expr] = []
    for source, name in fmt.columns.items():
        if source not in present:
            selected.append(pl.lit(None, dtype=pl.String()).alias(name))
        elif name == "occurred_at" and fmt.timestamp == "native":
            selected.append(pl.col(source).cast(pl.Datetime("us")).alias(name))
        else:
            selected.append(pl.col(source).cast(pl.String()).alias(name))
    covered = set(fmt.columns.values())
    selected += [pl.lit(None, dtype=pl.String()).alias(n) for n in FIELDS if n not in covered]
    return piece.rows.lazy().select(*selected, pl.lit(piece.file, dtype=files).alias(FILE))


def as_delivered(piece: Piece) -> pl.LazyFrame:
    """Every source column of ``piece`` as text, plus ``_file`` (the file name): a rejected
    row is quarantined whole, as delivered."""
    return piece.rows.lazy().select(pl.all().cast(pl.String()), pl.lit(piece.file).alias(FILE))


def numbered(
    frames: Sequence[pl.LazyFrame], offset: int, *, diagonal: bool = False
) -> pl.LazyFrame:
    """``frames`` as one, with ``_row``: the row number in the department's delivery,
    counted from ``offset`` (the rows read before these). Diagonal: frames of different
    columns, each missing column null."""
    joined = pl.concat(frames, how="diagonal" if diagonal else "vertical")
    return joined.with_row_index(ROW, offset=offset)


def raw_columns(fmt: ExportFormat, files: Sequence[Path]) -> list[str]:
    """The columns of a quarantine of rows of ``files``, in order: ``_row``, then every
    source column and ``_file`` in order of first appearance."""
    names: dict[str, None] = {ROW: None}
    for path in files:
        names.update(dict.fromkeys(_scan(fmt, path).collect_schema().names()))
        names[FILE] = None
    return list(names)
