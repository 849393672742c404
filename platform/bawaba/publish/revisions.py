"""Late records for periods already published (PRIVACY.md S2, "revision of a published
period only where each changed cell moves by at least k payers").

Comparing two versions of a table reveals exactly what changed between them, so a late
record that alters a published cell by fewer than k payers would single those payers out.
Late rows of a published month are therefore taken in only when every cell they touch, in
every dataset, moves by at least k distinct payers; otherwise the month's late rows wait in
the store, and are weighed again, together with any that arrive later, at the next publish.
Rows of a month not published yet are not late: they are the next period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from bawaba.catalog import Catalog, Dataset
from bawaba.publish.coordinates import with_time
from bawaba.publish.populations import FILTERS, Population

Published = dict[str, list[int]]
"""Ingestion run -> the periods of its rows that a release has published: months as
``YYYYMM``; a four-digit entry (what releases before monthly periods recorded) is a whole
year."""

PERIOD = "_period"


def period_of() -> pl.Expr:
    """A row's period, ``YYYYMM``, from its ``date`` (``coordinates.with_time``)."""
    return (pl.col("date").dt.year() * 100 + pl.col("date").dt.month()).cast(pl.Int64).alias(PERIOD)


def _months(periods: Iterable[int]) -> set[int]:
    """Periods as months: a year stands for its twelve."""
    out: set[int] = set()
    for p in periods:
        out |= {p * 100 + m for m in range(1, 13)} if p < 10_000 else {p}
    return out


def _key_columns(dataset: Dataset) -> list[str]:
    return [f.name for f in dataset.by_role("time", "dimension")]


def _populations(dataset: Dataset) -> set[Population]:
    assert dataset.privacy is not None
    named = {dataset.privacy.population, *(f.population for f in dataset.fields if f.population)}
    return {p for p in FILTERS if p in named} or {"maturity"}


def movers(rows: pl.LazyFrame, dataset: Dataset, population: Population) -> pl.LazyFrame:
    """Distinct payers among ``rows`` in each of ``dataset``'s cells."""
    assert dataset.privacy is not None
    chosen = rows.filter(FILTERS[population])
    for column, value in dataset.privacy.restriction.items():
        chosen = chosen.filter(pl.col(column) == value)
    keys = _key_columns(dataset)
    return chosen.group_by(keys).agg(pl.col("payer_id").n_unique().alias("movers"))


def _moves_enough(late: pl.LazyFrame, datasets: Iterable[Dataset]) -> bool:
    for ds in datasets:
        assert ds.privacy is not None
        for population in sorted(_populations(ds)):
            cells = movers(late, ds, population).collect()
            if cells.filter(pl.col("movers") < ds.privacy.k).height:
                return False
    return True


@dataclass(frozen=True)
class Split:
    """What ``split_late_rows`` says of the store's rows."""

    kept: pl.LazyFrame
    """The rows to publish now: every row but the late rows held back."""
    counts: pl.DataFrame
    """The kept rows' counts per part and month (``periods.COUNTS``)."""
    published: Published
    """What the new release will have published."""
    held: list[int]
    """The months (``YYYYMM``) whose late rows are held back."""


ReadParts = Callable[[list[str]], pl.LazyFrame]
"""The rows of the parts named (``rows.scan_rows``), with ``run_id`` and ``date``."""


def split_late_rows(
    rows: pl.LazyFrame,
    counts: pl.DataFrame,
    catalog: Catalog,
    published: Published | None,
    read_parts: ReadParts,
) -> Split:
    """Which of ``rows`` to publish now, and what that publishes.

    A row of a month no release has published is new: a month follows another without
    revising it. A row of a published month that no release took in is late, and a month's
    late rows are taken in together, only when they move every cell they touch by k payers.

    ``rows`` carry ``run_id`` and ``date``; ``counts`` are their counts per part and month
    (``periods.count``); ``published`` is the previous release's record (None for a first
    release: everything is new). Only the parts that hold late rows are read.
    """
    if published is None:
        return Split(rows, counts, _as_published(counts), [])
    seen = sorted(_months(p for periods in published.values() for p in periods))
    new = ~already_published(published, pl.col(PERIOD))
    unknown = pl.col(PERIOD).is_in(seen) & new
    late_parts = counts.filter(unknown).get_column("part").unique().sort().to_list()
    held: list[int] = []
    if late_parts:
        late_rows = read_parts(late_parts).with_columns(period_of()).filter(unknown)
        # Collected first: a lazy ``with_time`` would read the parts twice (their days,
        # then their rows).
        late = with_time(late_rows.collect().lazy()).collect()
        audited = [d for d in catalog.datasets if d.privacy is not None]
        held = [
            month
            for month in sorted(late[PERIOD].unique().to_list())
            if not _moves_enough(late.lazy().filter(pl.col(PERIOD) == month), audited)
        ]
    if not held:
        return Split(rows, counts, _as_published(counts), held)
    waiting = pl.col(PERIOD).is_in(held) & new
    kept = rows.with_columns(period_of()).filter(~waiting).drop(PERIOD)
    kept_counts = counts.filter(~waiting)
    return Split(kept, kept_counts, _as_published(kept_counts), held)


def already_published(published: Published, period: pl.Expr | None = None) -> pl.Expr:
    """True for rows (with ``run_id`` and ``date``, or with ``run_id`` and the given
    ``period``) that ``published`` covers."""
    # One comparison per run rather than a "run:period" string built for every row: the
    # run is a categorical (``rows.scan_rows``), and there are few runs.
    period = period_of() if period is None else period
    return pl.any_horizontal(
        pl.lit(False),
        *(
            (pl.col("run_id") == run) & period.is_in(sorted(_months(periods)))
            for run, periods in sorted(published.items())
        ),
    )


def _as_published(counts: pl.DataFrame) -> Published:
    out: Published = {}
    pairs = counts.select("run_id", PERIOD).unique()
    for run, period in sorted(pairs.iter_rows()):
        out.setdefault(str(run), []).append(int(period))
    return out
