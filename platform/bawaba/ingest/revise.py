"""Corrected re-deliveries: a file ingested before, delivered again with other content.

The ledger knows where each ingested file's accepted rows sit: a contiguous range of one
part (parts keep the order of their files). A revision's earlier rows are dropped by
rewriting the parts that hold them beside the old ones, under a new name that still names
the run that first committed the rows kept; the commit swaps them in with the manifest, so
the earlier rows and the revision's rows are never both, nor neither, in the store. The
rows dropped are kept apart (``store.retracted_name``): a release may have published them,
and it keeps publishing them until the revision can be published (``publish.revisions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bawaba.ingest.store import (
    ROW_GROUP_ROWS,
    LedgerEntry,
    Range,
    Rewrite,
    Run,
    check_part_schema,
    part_writer,
)


def stage_rewrites(run: Run, department: str, revised: Mapping[str, LedgerEntry]) -> list[Rewrite]:
    """The department's parts without the earlier rows of ``revised``, and those rows,
    staged."""
    removed: dict[str, list[Range]] = {}
    for entry in revised.values():
        if entry.part is not None and entry.rows:
            removed.setdefault(entry.part, []).append((entry.offset, entry.rows))
    rewrites: list[Rewrite] = []
    for part, spans in sorted(removed.items()):
        staged = run.stage_path("revised", department, Path(part).name)
        retracted = run.stage_path("retracted", department, Path(part).name)
        kept, taken = _split(run.settings.store_dir / part, staged, retracted, spans)
        rewrites.append(
            Rewrite(part, staged if kept else None, sorted(spans), retracted if taken else None)
        )
    return rewrites


class _Rows:
    """A part written a row group at a time, once it has a row."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, rows: pl.DataFrame) -> None:
        if not rows.height:
            return
        check_part_schema(rows)
        table = rows.to_arrow()
        if self._writer is None:
            self._writer = part_writer(self.path, table.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += rows.height

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _split(source: Path, kept: Path, taken: Path, spans: list[Range]) -> tuple[int, int]:
    """Copies ``source``'s rows to ``kept`` but those of ``spans``, which go to ``taken``,
    a row group at a time; the rows written to each."""
    parquet = pq.ParquetFile(source)
    kept_rows, taken_rows, start = _Rows(kept), _Rows(taken), 0
    try:
        for group in range(parquet.num_row_groups):
            frame = pl.from_arrow(parquet.read_row_group(group))
            assert isinstance(frame, pl.DataFrame)
            row = pl.int_range(pl.len()) + start
            dropped = pl.any_horizontal([(row >= a) & (row < a + n) for a, n in spans])
            start += frame.height
            kept_rows.write(frame.filter(~dropped))
            taken_rows.write(frame.filter(dropped))
    finally:
        kept_rows.close()
        taken_rows.close()
    return kept_rows.rows, taken_rows.rows
