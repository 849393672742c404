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

from bawaba.ingest.store import LedgerEntry, Range, Rewrite, Run, write_part


def ranges(files: pl.Series) -> dict[str, Range]:
    """Each file's range among accepted rows given in file order (``files`` per row)."""
    out: dict[str, Range] = {}
    first = 0
    for run in files.cast(pl.String()).rle().to_list():
        name, rows = str(run["value"]), int(run["len"])
        assert name not in out, f"rows of {name} are not contiguous"
        out[name] = (first, rows)
        first += rows
    return out


def stage_rewrites(run: Run, department: str, revised: Mapping[str, LedgerEntry]) -> list[Rewrite]:
    """The department's parts without the earlier rows of ``revised``, staged."""
    removed: dict[str, list[Range]] = {}
    for entry in revised.values():
        if entry.part is not None and entry.rows:
            removed.setdefault(entry.part, []).append((entry.offset, entry.rows))
    rewrites: list[Rewrite] = []
    for part, spans in sorted(removed.items()):
        frame = pl.read_parquet(run.settings.store_dir / part)
        row = pl.int_range(pl.len())
        dropped = pl.any_horizontal([(row >= first) & (row < first + n) for first, n in spans])
        kept = frame.filter(~dropped)
        staged = None
        if kept.height:
            staged = run.stage_path("revised", department, Path(part).name)
            write_part(kept, staged)
        rewrites.append(Rewrite(part, staged, sorted(spans)))
    return rewrites
