"""Reads a department's landed files and maps them onto the canonical fields.

Everything is read as text first (dirty feeds put anything in any column); typed parsing is
the validator's job, so that a bad value becomes a quarantined row, not a crashed run. Only
the columns the format maps are read: a column we do not know is never loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from bawaba.errors import BawabaError
from bawaba.ingest.contract import FIELDS
from bawaba.ingest.declarations import ExportFormat

FILE = "_file"
ROW = "_row"


class SchemaDrift(BawabaError):
    """A department's export lost a column its pipeline maps."""

    slug = "schema-drift"


def _scan(fmt: ExportFormat, files: Sequence[Path]) -> pl.LazyFrame:
    paths = [str(p) for p in files]
    if fmt.reader == "csv":
        return pl.scan_csv(paths, infer_schema=False, include_file_paths=FILE)
    if fmt.reader == "jsonl":
        names = _header_of_jsonl(files[0])
        schema = {name: pl.String() for name in names}
        return pl.scan_ndjson(paths, schema=schema, include_file_paths=FILE)
    return pl.scan_parquet(paths, include_file_paths=FILE, missing_columns="insert")


def _header_of_jsonl(path: Path) -> list[str]:
    import orjson

    with path.open("rb") as handle:
        first = handle.readline()
    record = orjson.loads(first) if first.strip() else {}
    if not isinstance(record, dict):
        raise SchemaDrift(f"{path.name}: the first line is not a JSON object")
    return list(record)


def scan_canonical(fmt: ExportFormat, files: Sequence[Path]) -> pl.LazyFrame:
    """The files as one lazy frame of canonical fields (text, or typed for native
    timestamps), plus ``_file`` (the file name) and ``_row`` (row number in this batch)."""
    lazy = _scan(fmt, files)
    present = set(lazy.collect_schema().names())
    mapped = dict(fmt.columns)
    missing = sorted(
        source
        for source, canonical in mapped.items()
        if source not in present and canonical not in fmt.optional
    )
    if missing:
        raise SchemaDrift(
            f"the export has no column {', '.join(repr(m) for m in missing)}",
            hint=f"columns present: {', '.join(sorted(present - {FILE}))}",
        )
    selected: list[pl.Expr] = []
    for source, canonical in mapped.items():
        if source not in present:
            selected.append(pl.lit(None, dtype=pl.String()).alias(canonical))
        elif canonical == "occurred_at" and fmt.timestamp == "native":
            selected.append(pl.col(source).alias(canonical))
        else:
            selected.append(pl.col(source).cast(pl.String()).alias(canonical))
    covered = set(mapped.values())
    selected += [
        pl.lit(None, dtype=pl.String()).alias(name) for name in FIELDS if name not in covered
    ]
    file_name = pl.col(FILE).str.extract(r"([^/\\]+)$")
    return lazy.select(*selected, file_name.alias(FILE)).with_row_index(ROW)


def scan_raw_rows(fmt: ExportFormat, files: Sequence[Path]) -> pl.LazyFrame:
    """All source columns as delivered (text), for quarantining a rejected row whole."""
    lazy = _scan(fmt, files)
    names = [n for n in lazy.collect_schema().names() if n != FILE]
    file_name = pl.col(FILE).str.extract(r"([^/\\]+)$")
    return lazy.select(
        *[pl.col(n).cast(pl.String()) for n in names], file_name.alias(FILE)
    ).with_row_index(ROW)
