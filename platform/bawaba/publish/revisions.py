"""Late records for periods already published (PRIVACY.md S2, "revision of a published
period only where each changed cell moves by at least k payers").

Comparing two versions of a table reveals exactly what changed between them, so a late
record that alters a published cell by fewer than k payers would single those payers out.
Late rows of a published year are therefore taken in only when every cell they touch, in
every dataset, moves by at least k distinct payers; otherwise the year's late rows wait in
the store, and are weighed again, together with any that arrive later, at the next publish.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from bawaba.catalog import Catalog, Dataset
from bawaba.publish.populations import FILTERS, Population

Published = dict[str, list[int]]
"""Ingestion run -> the years of its rows that a release has published."""


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
    rows: pl.DataFrame,
    catalog: Catalog,
    published: Published | None,
) -> tuple[pl.DataFrame, Published, list[int]]:
    """The rows to publish now, what the new release will have published, and the years
    whose late rows are held back.

    ``rows`` carry ``run_id`` and ``year``; ``published`` is the previous release's record
    (None for a first release: everything is new).
    """
    pairs = rows.select("run_id", "year").unique()
    if published is None:
        return rows, _as_published(pairs), []
    seen_years = sorted({year for years in published.values() for year in years})
    is_known = already_published(published)
    late = rows.filter(pl.col("year").is_in(seen_years) & ~is_known)
    audited = [d for d in catalog.datasets if d.privacy is not None]
    held = [
        year
        for year in sorted(late["year"].unique().to_list())
        if not _moves_enough(late.lazy().filter(pl.col("year") == year), audited)
    ]
    kept = rows.filter(~(pl.col("year").is_in(held) & ~is_known))
    return kept, _as_published(kept.select("run_id", "year").unique()), held


def already_published(published: Published) -> pl.Expr:
    """True for rows (with ``run_id`` and ``year``) that ``published`` covers."""
    # One comparison per run rather than a "run:year" string built for every row: the run
    # is a categorical (``rows.scan_rows``), and there are few runs.
    return pl.any_horizontal(
        pl.lit(False),
        *(
            (pl.col("run_id") == run) & pl.col("year").is_in(years)
            for run, years in sorted(published.items())
        ),
    )


def _as_published(pairs: pl.DataFrame) -> Published:
    out: Published = {}
    for run, year in sorted(pairs.iter_rows()):
        out.setdefault(str(run), []).append(int(year))
    return out
