"""Corrected re-deliveries: a file ingested before, delivered again with other content.

The ledger knows where each ingested file's accepted rows sit: a contiguous range of one
part (parts keep the order of their files). A revision's earlier rows are dropped by
rewriting the parts that hold them beside the old ones, under a new name that still names
the run that first committed the rows kept; the commit swaps them in with the manifest, so
the earlier rows and the revision's rows are never both, nor neither, in the store.
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
    """The department's parts without the earlier rows of ``revised``, staged."""
    removed: dict[str, list[Range]] = {}
    for entry in revised.values():
        if entry.part is not None and entry.rows:
            removed.setdefault(entry.part, []).append((entry.offset, entry.rows))
    rewrites: list[Rewrite] = []
    for part, spans in sorted(removed.items()):
        staged = run.stage_path("revised", department, Path(part).name)
        if not _copy_without(run.settings.store_dir / part, staged, spans):
            staged.unlink(missing_ok=True)
            rewrites.append(Rewrite(part, None, sorted(spans)))
        else:
            rewrites.append(Rewrite(part, staged, sorted(spans)))
    return rewrites


def _copy_without(source: Path, target: Path, spans: list[Range]) -> int:
    """Copies ``source`` to ``target`` but the rows of ``spans``, a row group at a time;
    the rows kept."""
    parquet = pq.ParquetFile(source)
    kept, start = 0, 0
    writer: pq.ParquetWriter | None = None
    try:
        for group in range(parquet.num_row_groups):
            frame = pl.from_arrow(parquet.read_row_group(group))
            assert isinstance(frame, pl.DataFrame)
            row = pl.int_range(pl.len()) + start
            dropped = pl.any_horizontal([(row >= a) & (row < a + n) for a, n in spans])
            start += frame.height
            rows = frame.filter(~dropped)
            if not rows.height:
                continue
            check_part_schema(rows)
            table = rows.to_arrow()
            if writer is None:
                writer = part_writer(target, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            kept += rows.height
    finally:
        if writer is not None:
            writer.close()
    return kept
