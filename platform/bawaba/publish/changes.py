"""What a new version changed against the dataset's version before it: ``changes.json``.

Computed at publish time from two public frames (the previous version's Parquet and the
file about to be installed), so it holds nothing that is not already public: the periods
that appear for the first time, the periods published before whose cells changed, and how
many cells were added, revised or removed. The rows themselves are not copied: the API
compares the two versions' Parquet files when asked (``/changes?since=``, which lists
removed cells by their key too). A version published before this file existed simply has
none.
"""

from __future__ import annotations

import orjson
import polars as pl
from pydantic import BaseModel

from bawaba.catalog.model import Dataset

CHANGES = "changes.json"


class VersionChanges(BaseModel):
    """What one version changed against ``previous`` (None for a dataset's first version)."""

    dataset: str
    version: str
    previous: str | None
    added_periods: list[str]
    """Values of the time columns (joined by ``/`` when there are several) found in this
    version and not in the previous one, in order."""
    added_cells: int
    """Rows whose key the previous version did not have."""
    revised_cells: int
    """Rows whose key the previous version had, with some other value different."""
    removed_cells: int
    """Keys of the previous version this one no longer has."""
    revised_periods: dict[str, int] = {}
    """Periods the previous version had in which this one adds, revises or removes cells,
    with how many (empty in summaries written before this field)."""


def cell_key(dataset: Dataset) -> list[str]:
    """The columns that tell cells apart: the sort key, then the other coordinates (the
    same as the API's ``row_key``)."""
    coordinates = [f.name for f in dataset.by_role("time", "dimension", "attribute")]
    return list(dict.fromkeys([*dataset.sort_by, *coordinates]))


def _period(time: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col(c).cast(pl.String) for c in time], separator="/").alias("period")


def _periods(frame: pl.DataFrame, time: list[str]) -> pl.Series:
    if not time:
        return pl.Series("period", [], dtype=pl.String)
    return frame.select(_period(time)).to_series().unique()


def _cells_per_period(frame: pl.DataFrame, time: list[str], among: set[str]) -> dict[str, int]:
    """How many of ``frame``'s cells fall in each of the periods ``among``."""
    if not time:
        return {}
    counted = frame.group_by(_period(time)).len().filter(pl.col("period").is_in(sorted(among)))
    return {str(p): int(n) for p, n in counted.sort("period").iter_rows()}


def compare(
    dataset: Dataset,
    version: str,
    frame: pl.DataFrame,
    previous: pl.DataFrame | None,
    previous_version: str | None,
) -> VersionChanges:
    """``frame`` (the new version) against ``previous`` (the version it follows)."""
    columns = [c for c in dataset.columns if c in frame.columns]
    time = [f.name for f in dataset.by_role("time") if f.name in frame.columns]
    if previous is None:
        return VersionChanges(
            dataset=dataset.id,
            version=version,
            previous=None,
            added_periods=sorted(_periods(frame, time).drop_nulls().to_list()),
            added_cells=frame.height,
            revised_cells=0,
            removed_cells=0,
        )
    key = [c for c in cell_key(dataset) if c in frame.columns and c in previous.columns]
    shared = [c for c in columns if c in previous.columns]
    old = previous.select(shared)
    new = frame.select(shared)
    if new.schema != old.schema:
        new = new.cast(old.schema, strict=False)
    added = new.join(old, on=key, how="anti", nulls_equal=True)
    removed = old.join(new, on=key, how="anti", nulls_equal=True)
    kept = new.join(old.select(key), on=key, how="semi", nulls_equal=True)
    revised = kept.join(old, on=shared, how="anti", nulls_equal=True)
    fresh = _periods(frame, time)
    before = set(_periods(previous, time).drop_nulls().to_list()) if time else set()
    return VersionChanges(
        dataset=dataset.id,
        version=version,
        previous=previous_version,
        added_periods=sorted(p for p in fresh.drop_nulls().to_list() if p not in before),
        added_cells=added.height,
        revised_cells=revised.height,
        removed_cells=removed.height,
        revised_periods=_cells_per_period(pl.concat([added, revised, removed]), time, before),
    )


def encode(changes: VersionChanges) -> bytes:
    return orjson.dumps(changes.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
