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

from collections.abc import Iterable

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


def split_late_rows(
    rows: pl.LazyFrame,
    catalog: Catalog,
    published: Published | None,
) -> tuple[pl.LazyFrame, Published, list[int]]:
    """The rows to publish now, what the new release will have published, and the months
    (``YYYYMM``) whose late rows are held back.

    A row of a month no release has published is new: a month follows another without
    revising it. A row of a published month that no release took in is late, and a month's
    late rows are taken in together, only when they move every cell they touch by k payers.

    ``rows`` carry ``run_id`` and ``date``; ``published`` is the previous release's record
    (None for a first release: everything is new). Only the late rows are read whole.
    """
    rows = rows.with_columns(period_of())
    if published is None:
        return rows.drop(PERIOD), _as_published(_pairs(rows)), []
    seen = sorted(_months(p for periods in published.values() for p in periods))
    is_known = already_published(published)
    # Collected first: the filter reads the whole store, and a lazy ``with_time`` would
    # read it twice (its days, then its rows).
    unknown = rows.filter(pl.col(PERIOD).is_in(seen) & ~is_known).collect()
    late = with_time(unknown.lazy()).collect()
    audited = [d for d in catalog.datasets if d.privacy is not None]
    held = [
        month
        for month in sorted(late[PERIOD].unique().to_list())
        if not _moves_enough(late.lazy().filter(pl.col(PERIOD) == month), audited)
    ]
    kept = rows.filter(~(pl.col(PERIOD).is_in(held) & ~is_known))
    return kept.drop(PERIOD), _as_published(_pairs(kept)), held


def _pairs(rows: pl.LazyFrame) -> pl.DataFrame:
    return rows.select("run_id", PERIOD).unique().collect()


def already_published(published: Published) -> pl.Expr:
    """True for rows (with ``run_id`` and ``date``) that ``published`` covers."""
    # One comparison per run rather than a "run:period" string built for every row: the
    # run is a categorical (``rows.scan_rows``), and there are few runs.
    period = period_of()
    return pl.any_horizontal(
        pl.lit(False),
        *(
            (pl.col("run_id") == run) & period.is_in(sorted(_months(periods)))
            for run, periods in sorted(published.items())
        ),
    )


def _as_published(pairs: pl.DataFrame) -> Published:
    out: Published = {}
    for run, period in sorted(pairs.iter_rows()):
        out.setdefault(str(run), []).append(int(period))
    return out
