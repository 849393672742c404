"""Reads a department's landed files and maps them onto the canonical fields.

Everything is read as text first (dirty feeds put anything in any column); typed parsing is
the validator's job, so that a bad value becomes a quarantined row, not a crashed run. Only
the columns the format maps are read: a column we do not know is never loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import polars as pl

from bawaba.errors import BawabaError
from bawaba.ingest.contract import FIELDS
from bawaba.ingest.declarations import ExportFormat

FILE = "_file"
ROW = "_row"
# Enough of a text file to estimate its rows from its size.
SAMPLE_BYTES = 1 << 20


class SchemaDrift(BawabaError):
    """A department's export lost a column its pipeline maps."""

    slug = "schema-drift"


def _scan(fmt: ExportFormat, path: Path) -> pl.LazyFrame:
    if fmt.reader == "csv":
        return pl.scan_csv(path, infer_schema=False)
    if fmt.reader == "jsonl":
        schema = {name: pl.String() for name in _header_of_jsonl(path)}
        return pl.scan_ndjson(path, schema=schema)
    return pl.scan_parquet(path)


def _header_of_jsonl(path: Path) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline()
    record = orjson.loads(first) if first.strip() else {}
    if not isinstance(record, dict):
        raise SchemaDrift(f"{path.name}: the first line is not a JSON object")
    return list(record)


def _canonical_file(fmt: ExportFormat, path: Path) -> pl.LazyFrame:
    lazy = _scan(fmt, path)
    present = set(lazy.collect_schema().names())
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
    selected: list[pl.Expr] = []
    for source, canonical in fmt.columns.items():
        if source not in present:
            selected.append(pl.lit(None, dtype=pl.String()).alias(canonical))
        elif canonical == "occurred_at" and fmt.timestamp == "native":
            selected.append(pl.col(source).cast(pl.Datetime("us")).alias(canonical))
        else:
            selected.append(pl.col(source).cast(pl.String()).alias(canonical))
    covered = set(fmt.columns.values())
    selected += [
        pl.lit(None, dtype=pl.String()).alias(name) for name in FIELDS if name not in covered
    ]
    return lazy.select(*selected, pl.lit(path.name).alias(FILE))


def canonical_files(fmt: ExportFormat, files: Sequence[Path]) -> list[pl.LazyFrame]:
    """Each file as a lazy frame of canonical fields (text, or typed for native timestamps)
    plus ``_file`` (the file name).

    Each file is mapped on its own, so files may order their columns differently or leave
    out optional ones; every file's header is checked here, before any row is read, so a file
    that lost a column is named and nothing of the department is ingested."""
    return [_canonical_file(fmt, path) for path in files]


def numbered(frames: Sequence[pl.LazyFrame], offset: int = 0) -> pl.LazyFrame:
    """``frames`` as one, with ``_row``: the row number in the department's batch, counted
    from ``offset`` (the rows of the files before these)."""
    return pl.concat(frames, how="vertical").with_row_index(ROW, offset=offset)


def _estimated_rows(fmt: ExportFormat, path: Path) -> int:
    if fmt.reader == "parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    lines = max(sample.count(b"\n"), 1)
    return path.stat().st_size * lines // max(len(sample), 1)


def batches(fmt: ExportFormat, files: Sequence[Path], rows: int) -> list[slice]:
    """Consecutive runs of ``files`` of about ``rows`` rows each (at least one file).

    A department is read a batch at a time so that memory is bounded by the batch, not by
    the department: all-text columns cost several hundred bytes a row."""
    runs: list[slice] = []
    start, size = 0, 0
    for index, path in enumerate(files):
        size += _estimated_rows(fmt, path)
        if size >= rows:
            runs.append(slice(start, index + 1))
            start, size = index + 1, 0
    if start < len(files):
        runs.append(slice(start, len(files)))
    return runs


def _raw(fmt: ExportFormat, path: Path) -> pl.LazyFrame:
    return (
        _scan(fmt, path)
        .select(pl.all().cast(pl.String()))
        .with_columns(pl.lit(path.name).alias(FILE))
    )


def raw_columns(fmt: ExportFormat, files: Sequence[Path]) -> list[str]:
    """The columns of ``scan_raw_rows`` over ``files``, in order: ``_row``, then every source
    column and ``_file`` in order of first appearance."""
    names: dict[str, None] = {ROW: None}
    for path in files:
        names.update(dict.fromkeys(_raw(fmt, path).collect_schema().names()))
    return list(names)


def scan_raw_rows(fmt: ExportFormat, files: Sequence[Path], offset: int = 0) -> pl.LazyFrame:
    """All source columns as delivered (text), for quarantining a rejected row whole;
    ``_row`` counts from ``offset`` as in ``numbered``."""
    frames = [_raw(fmt, path) for path in files]
    return pl.concat(frames, how="diagonal").with_row_index(ROW, offset=offset)
