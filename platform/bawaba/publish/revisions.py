"""Late records for periods already published (PRIVACY.md S2, "revision of a published
period only where each changed cell moves by at least k payers").

Comparing two versions of a table reveals exactly what changed between them, so a late
record that alters a published cell by fewer than k payers would single those payers out.
Late rows of a published month are therefore taken in only when every cell they touch, in
every dataset, moves by at least k distinct payers; otherwise the month's late rows wait in
the store, and are weighed again, together with any that arrive later, at the next publish.
Rows of a month not published yet are not late: they are the next period.

A corrected delivery takes the rows it replaces out of the store at once (``ingest.revise``
keeps them apart), but a reader who downloaded the earlier version still has them: the
rows a release published stay published, as they were, until the correction is taken in,
and it is weighed by what it changes, not by how many rows it sends again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from bawaba.catalog import Catalog, Dataset
from bawaba.publish.coordinates import with_time
from bawaba.publish.populations import FILTERS, Population
from bawaba.publish.rows import COLUMNS

Published = dict[str, list[int]]
"""Ingestion run -> the periods of its rows that a release has published, and those whose
rows its corrections took out that a release has taken out too: months as ``YYYYMM``; a
four-digit entry (what releases before monthly periods recorded) is a whole year."""

PERIOD = "_period"
RETRACTED_BY = "retracted_by"
"""Of a count of retracted rows (``periods``): the run whose revision took them out."""
_NTH = "_nth"


def period_of(date: pl.Expr | None = None) -> pl.Expr:
    """A row's period, ``YYYYMM``, from its ``date`` (``coordinates.with_time``), or the
    date given."""
    date = pl.col("date") if date is None else date
    return (date.dt.year() * 100 + date.dt.month()).cast(pl.Int64).alias(PERIOD)


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
    """The rows to publish now: every live row but the late rows held back, and the rows
    a revision held back took out, as a release published them."""
    counts: pl.DataFrame
    """The kept rows' counts per part and month (``periods.COUNTS``)."""
    published: Published
    """What the new release will have published."""
    held: list[int]
    """The months (``YYYYMM``) whose late rows are held back."""
    withdrawn: pl.DataFrame
    """The rows a release published that the new one takes out: those of the corrected
    deliveries it takes in (with ``run_id``, ``date`` and the period)."""


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
    revising it. A row of a published month that no release took in is late. A corrected
    delivery is late rows too, and takes the rows it replaces out of the store; those a
    release published are still known to every reader. A month's revision, its late rows
    less the published rows taken out (rows sent again unchanged cancel out), is taken in
    whole only when it moves every cell it touches by k payers; otherwise its late rows
    wait, and the rows taken out are published as they were.

    ``rows`` are the live rows, with ``run_id`` and ``date``; ``counts`` the counts per
    part and month of the live and the retracted parts (``periods.count``); ``published``
    is the previous release's record (None for a first release: everything is new). Only
    the parts that hold late or retracted rows of published months are read.
    """
    live = counts.filter(pl.col(RETRACTED_BY).is_null())
    retracted = counts.filter(pl.col(RETRACTED_BY).is_not_null())
    if published is None:
        return Split(rows, live, _as_published(live, retracted), [], _read(read_parts, None))
    seen = sorted(_months(p for periods in published.values() for p in periods))
    new = ~already_published(published, pl.col(PERIOD))
    late = live.filter(pl.col(PERIOD).is_in(seen) & new)
    period, retractor = pl.col(PERIOD), pl.col(RETRACTED_BY)
    shown = retracted.filter(
        already_published(published, period) & ~already_published(published, period, retractor)
    )
    added, taken = _read(read_parts, late), _read(read_parts, shown)
    held: list[int] = []
    if added.height or taken.height:
        revision = with_time(net_change(added, taken, COLUMNS).lazy()).collect()
        audited = [d for d in catalog.datasets if d.privacy is not None]
        months = set(added[PERIOD].unique().to_list()) | set(taken[PERIOD].unique().to_list())
        held = [
            month
            for month in sorted(months)
            if not _moves_enough(revision.lazy().filter(pl.col(PERIOD) == month), audited)
        ]
    waiting = pl.col(PERIOD).is_in(held)
    kept = rows
    if held:
        kept = rows.with_columns(period_of()).filter(~(waiting & new)).drop(PERIOD)
    as_shown = taken.filter(waiting)
    if as_shown.height:
        kept = pl.concat([kept, as_shown.drop(PERIOD).lazy()])
    kept_counts = pl.concat([live.filter(~(waiting & new)), shown.filter(waiting)])
    # A revision taken in (now or before) is recorded by the run that made it, even for a
    # month where that run has no rows left: the rows it took out are then never published
    # again.
    done = retracted.filter(~waiting | already_published(published, period, retractor))
    return Split(kept, kept_counts, _as_published(kept_counts, done), held, taken.filter(~waiting))


def _read(read_parts: ReadParts, counts: pl.DataFrame | None) -> pl.DataFrame:
    """The rows of each part of ``counts`` in the months they count there, with their
    period."""
    months: dict[str, list[int]] = {}
    for part, month in [] if counts is None else counts.select("part", PERIOD).iter_rows():
        months.setdefault(part, []).append(month)
    frames = [read_parts([]).with_columns(period_of())]
    for part, chosen in sorted(months.items()):
        frames.append(
            read_parts([part]).with_columns(period_of()).filter(pl.col(PERIOD).is_in(chosen))
        )
    # Collected first: a lazy ``with_time`` would read the parts twice (their days, then
    # their rows).
    return pl.concat(frames).collect()


def net_change(added: pl.DataFrame, removed: pl.DataFrame, on: Sequence[str]) -> pl.DataFrame:
    """What putting ``added`` in the place of ``removed`` changes: the rows of each that
    the other does not match one for one on ``on`` (as multisets), both kept.

    A corrected delivery sends most of a file again as it was: only the rows it changes
    move the published cells, and only their payers are those that differencing two
    versions could single out."""
    nth = pl.int_range(pl.len()).over(on).alias(_NTH)
    keys = [*on, _NTH]
    plus = added.with_columns(nth)
    minus = removed.select(added.columns).with_columns(nth)
    return pl.concat(
        [
            plus.join(minus, on=keys, how="anti", nulls_equal=True),
            minus.join(plus, on=keys, how="anti", nulls_equal=True),
        ]
    ).drop(_NTH)


def already_published(
    published: Published, period: pl.Expr | None = None, run: pl.Expr | None = None
) -> pl.Expr:
    """True for rows (with ``run_id`` and ``date``, or the ``run`` and ``period`` given)
    that ``published`` covers."""
    # One comparison per run rather than a "run:period" string built for every row: the
    # run is a categorical (``rows.scan_rows``), and there are few runs.
    period = period_of() if period is None else period
    run = pl.col("run_id") if run is None else run
    return pl.any_horizontal(
        pl.lit(False),
        *(
            (run == name) & period.is_in(sorted(_months(periods)))
            for name, periods in sorted(published.items())
        ),
    )


def _as_published(counts: pl.DataFrame, revisions: pl.DataFrame) -> Published:
    """The runs and months of ``counts``, and of the revisions that took ``revisions``'
    rows out."""
    out: Published = {}
    pairs = pl.concat(
        [
            counts.select("run_id", PERIOD),
            revisions.select(pl.col(RETRACTED_BY).alias("run_id"), PERIOD),
        ]
    ).unique()
    for run, period in sorted(pairs.iter_rows()):
        out.setdefault(str(run), []).append(int(period))
    return out
