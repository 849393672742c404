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


def scan_canonical(fmt: ExportFormat, files: Sequence[Path]) -> pl.LazyFrame:
    """The files as one lazy frame of canonical fields (text, or typed for native
    timestamps), plus ``_file`` (the file name) and ``_row`` (row number in this batch).

    Each file is mapped on its own, so files may order their columns differently or leave
    out optional ones, and a file that lost a column is named."""
    frames = [_canonical_file(fmt, path) for path in files]
    return pl.concat(frames, how="vertical").with_row_index(ROW)


def scan_raw_rows(fmt: ExportFormat, files: Sequence[Path]) -> pl.LazyFrame:
    """All source columns as delivered (text), for quarantining a rejected row whole."""
    frames = [
        _scan(fmt, path)
        .select(pl.all().cast(pl.String()))
        .with_columns(pl.lit(path.name).alias(FILE))
        for path in files
    ]
    return pl.concat(frames, how="diagonal").with_row_index(ROW)
