"""How many rows each part of the store holds of each month, counted once per part.

A part never changes once committed: a revision writes the rows it keeps to a new part
under a new name, and the rows it takes out to a retracted part (``ingest.revise``),
counted here too. So a part's months are counted the first time a publish meets it, and
the counts kept beside the publisher's other private state. A monthly publish then counts
only the parts its runs added, and what would otherwise take a pass over the whole store,
which grows with every month of history, is read off the counts: which months each run
brought, which years hold rows, the latest month, each department's rows in a year.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from bawaba.fsutil import atomic_path
from bawaba.ingest.store import StoreState, retracted_by, run_of
from bawaba.publish.revisions import PERIOD, RETRACTED_BY
from bawaba.publish.rows import live_parts, retracted_parts
from bawaba.settings import Settings

COUNTS = {
    "part": pl.String(),
    "run_id": pl.String(),
    "department": pl.String(),
    PERIOD: pl.Int64(),
    "rows": pl.UInt32(),
    RETRACTED_BY: pl.String(),
}
"""One row per part and month (``YYYYMM``) it holds rows of; ``retracted_by`` names the
run that took a retracted part's rows out, and is null for a live part."""


def counts_path(var_dir: Path) -> Path:
    return var_dir / "publish" / "periods.parquet"


def read_kept(path: Path) -> pl.DataFrame | None:
    """The frame a publish kept at ``path``, None if there is none.

    Read through one open file: publishers on object storage take no lock, so another may
    replace the file meanwhile (atomically). Polars given the path opens it more than once
    and can read the footer of one file and the data of the next."""
    try:
        with path.open("rb") as kept:
            return pl.read_parquet(kept)
    except FileNotFoundError:
        return None


def count(settings: Settings, state: StoreState, *, keep: bool) -> pl.DataFrame:
    """The counts of every part of the store's manifest ``state``, live and retracted
    (:data:`COUNTS`), those not counted before counted now; with ``keep``, the counts kept
    go with those parts (only a publisher keeps them; a build task on a cluster does not)."""
    retracted = retracted_parts(state)
    every = live_parts(state) | retracted
    path = counts_path(settings.var_dir)
    stored = read_kept(path)
    if stored is None:
        stored = pl.DataFrame(schema=COUNTS)
    if stored.schema != pl.Schema(COUNTS):
        stored = pl.DataFrame(schema=COUNTS)  # kept by an earlier version: counted again
    known = stored.filter(pl.col("part").is_in(sorted(every)))
    counted = set(known.get_column("part").to_list())
    fresh = [
        _count_part(settings, part, every[part], part in retracted)
        for part in sorted(set(every) - counted)
    ]
    out = pl.concat([known, *fresh]).sort("part", PERIOD)
    if keep and (fresh or known.height != stored.height):
        with atomic_path(path) as temporary:
            out.write_parquet(temporary)
    return out


def _count_part(settings: Settings, part: str, department: str, retracted: bool) -> pl.DataFrame:
    date = pl.col("txn_date")
    months = (
        pl.scan_parquet(settings.store_dir / part)
        .group_by((date.dt.year().cast(pl.Int64) * 100 + date.dt.month()).alias(PERIOD))
        .agg(pl.len().cast(pl.UInt32).alias("rows"))
        .collect()
    )
    return months.select(
        pl.lit(part).alias("part"),
        pl.lit(run_of(part)).alias("run_id"),
        pl.lit(department).alias("department"),
        pl.col(PERIOD),
        pl.col("rows"),
        pl.lit(retracted_by(part) if retracted else None).alias(RETRACTED_BY),
    ).cast(COUNTS)  # type: ignore[arg-type]


def years(counts: pl.DataFrame) -> list[int]:
    """The calendar years ``counts`` hold rows of, oldest first."""
    return sorted({int(p) // 100 for p in counts.get_column(PERIOD).unique().to_list()})


def last_month(counts: pl.DataFrame) -> int | None:
    """The latest month (``YYYYMM``) of ``counts``, None when they are empty."""
    latest = counts.get_column(PERIOD).max()
    return None if latest is None else int(latest)  # type: ignore[arg-type]


def of_year(counts: pl.DataFrame, year: int | None) -> pl.DataFrame:
    """The counts of ``year`` (all of them for None)."""
    return counts if year is None else counts.filter(pl.col(PERIOD) // 100 == year)
