"""Builds a release: every dataset of the catalog, under disclosure control together.

All tables of a release are protected jointly (PRIVACY.md S2: the audit spans every linked
table, open and premium), a table with more than 30 % sensitive cells is withheld, and a
suppressed cell publishes null for every measure with ``suppressed = true``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from bawaba.catalog import Catalog, Dataset
from bawaba.disclosure import AuditReport, AuditTable, primary, protect, relations
from bawaba.disclosure.audit import RunJobs, in_threads
from bawaba.disclosure.linked import period_end
from bawaba.disclosure.model import PUBLISHED_BEFORE, Unprotectable
from bawaba.publish.builders import BUILDERS, Built, Context
from bawaba.publish.coordinates import with_coarser
from bawaba.publish.disclosure_report import DisclosureFacts
from bawaba.publish.gate import outside_ranges
from bawaba.publish.partitions import Part
from bawaba.publish.rows import decode
from bawaba.reference import Reference

MAX_SENSITIVE_SHARE = 0.30
# Headline figures are picked to hide someone else's cell only when nothing else does (a
# year's total beside months published before); the maturity indicators publish no count
# of their own, only rates a reader turns into counts.
HEADLINE = frozenset({"epay-annual", "service-maturity"})
BUILDER_THREADS = 2


@dataclass
class DatasetRelease:
    dataset: Dataset
    built: Built
    frame: pl.DataFrame | None = None
    """The published rows (the catalog's columns), or None when withheld."""
    withheld: str | None = None
    sensitive_share: float = 0.0
    primary_cells: int = 0
    """Cells sensitive by themselves (primary suppressions)."""
    disclosure: DisclosureFacts | None = None
    """For its public disclosure report; None for a table without disclosure control."""
    reused_years: tuple[int, ...] = ()
    """Years whose rows were taken from the current version as published, not built
    (``publish.by_year``): the gate counts no cells of them."""
    withheld_years: dict[int, str] = dataclasses.field(default_factory=dict)
    """The years whose build withheld it, and why (``publish.by_year``): left out of the
    published table, or, with ``withheld`` set, the reason the whole table is withheld."""

    @property
    def suppressed(self) -> int:
        return (
            0
            if self.frame is None or "suppressed" not in self.frame.columns
            else int(self.frame["suppressed"].sum())
        )


def _audit_table(ds: Dataset, built: Built) -> AuditTable:
    assert ds.privacy is not None
    return AuditTable(
        name=ds.id,
        cells=with_coarser(built.cells, built.keys),
        coordinates=built.coordinates,
        quantities=built.quantities,
        restriction=dict(ds.privacy.restriction) or built.restriction,
        k=ds.privacy.k,
        p=ds.privacy.p,
        protected=ds.id in HEADLINE,
        contributors=built.contributors,
        sub_payers=built.sub_payers,
    )


def _publishable(ds: Dataset, built: Built, cells: pl.DataFrame) -> pl.DataFrame:
    finished = built.finish(cells)
    if ds.privacy is not None:
        measures = [f.name for f in ds.by_role("measure")]
        hidden = pl.col("suppressed")
        finished = finished.with_columns(
            pl.when(~hidden).then(pl.col(m)).alias(m) for m in measures
        )
    columns = [
        pl.col(f.name).cast(_DTYPES[f.type]) if f.type != "decimal" else _decimal(f.name)
        for f in ds.fields
    ]
    return finished.select(columns).sort(list(ds.sort_by), maintain_order=True)


def _decimal(name: str) -> pl.Expr:
    column = pl.col(name)
    return (
        column.cast(pl.Decimal(18, 2))
        if name.endswith("_aed")
        else column.cast(pl.Float64).round(2)
    )


_DTYPES: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "string": pl.String(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
}


def build_release(
    store: pl.LazyFrame,
    parts: Sequence[Part],
    catalog: Catalog,
    reference: Reference,
    max_audit_cells: int,
    previous: Mapping[str, pl.DataFrame] | None = None,
    *,
    last: int | None,
    first_quarters: pl.DataFrame | None = None,
    run_jobs: RunJobs = in_threads,
) -> tuple[list[DatasetRelease], AuditReport]:
    """Every dataset of ``catalog`` from ``store`` (time coordinates added, services
    folded), protected together. Each builder reads ``store`` a part at a time (a group of
    departments, which no cell spans: ``publish.partitions``).

    ``previous`` holds the current version of each dataset (its keys and ``suppressed``): a
    cell hidden there stays hidden, since a value shown now would complete what a reader
    kept of the earlier version (PRIVACY.md S2: every version ever released is known).
    ``last`` is the latest month of the whole store (None when it is empty). When
    ``store`` holds only some periods (``publish.by_year``), ``first_quarters`` is what
    earlier periods' rows say of each payer (``builders.Context``). ``run_jobs`` runs the
    disclosure audit's jobs (``disclosure.audit``)."""

    known = None if first_quarters is None else first_quarters.lazy()

    def build(ds: Dataset) -> DatasetRelease:
        # A table without a time coordinate (the e-service catalog) is not built from rows.
        each = [
            BUILDERS[ds.builder](
                Context(part.of(store), reference, ds, None if known is None else part.of(known))
            )
            for part in (parts if ds.by_role("time") else parts[:1])
        ]
        built = each[0]
        stacked = pl.concat([decode(b.cells) for b in each], how="diagonal_relaxed")
        # Cells in key order, whatever order the group-by produced them in: the cell index
        # of the disclosure audit follows it, and the same input must give the same bytes.
        cells = _complete_periods(stacked, built.keys, last).sort(list(built.keys))
        return DatasetRelease(ds, dataclasses.replace(built, cells=cells))

    # Two builders at a time: Polars leaves a core idle through much of a group-by (the
    # merge of partial results, the casts, a small second aggregation), which the other
    # builder takes. Each builder's result is the same whatever runs beside it.
    with ThreadPoolExecutor(BUILDER_THREADS) as pool:
        releases = list(pool.map(build, catalog.datasets))

    audited: list[AuditTable] = []
    alone: dict[str, pl.DataFrame] = {}
    for rel in releases:
        privacy = rel.dataset.privacy
        if privacy is None:
            continue
        if not rel.built.quantities:
            # Nothing in it adds up, so nothing links it to other tables: the k rule alone.
            cells = rel.built.cells.with_columns((pl.col("payers") < privacy.k).alias("suppressed"))
            rel.primary_cells = int(cells["suppressed"].sum())
            rel.sensitive_share = _share(rel.primary_cells, cells.height)
            alone[rel.dataset.id] = cells
            continue
        keys = rel.built.cells.select(f.name for f in rel.dataset.by_role("time", "dimension"))
        if outside_ranges(keys, rel.dataset):
            # A coordinate the catalog does not allow (a wrapped integer) would link cells
            # that do not add up: nothing of the table is audited or shown, and the gate
            # refuses it by name.
            cells = rel.built.cells.with_columns(pl.lit(value=True).alias("suppressed"))
            alone[rel.dataset.id] = cells
            continue
        table = _audit_table(rel.dataset, rel.built)
        rel.primary_cells = int(primary(table).suppressed.sum())
        rel.sensitive_share = _share(rel.primary_cells, table.cells.height)
        if table.cells.height > max_audit_cells:
            rel.withheld = (
                f"{table.cells.height:,} cells exceed the suppression audit's budget of "
                f"{max_audit_cells:,} (BAWABA_MAX_AUDIT_CELLS); not published unaudited"
            )
        elif rel.sensitive_share > MAX_SENSITIVE_SHARE:
            rel.withheld = (
                f"{rel.sensitive_share:.0%} of its cells are sensitive; a table "
                f"over {MAX_SENSITIVE_SHARE:.0%} is not published"
            )
        else:
            if previous and rel.dataset.id in previous:
                before = _hidden_before(table, rel.dataset, previous[rel.dataset.id])
                # A headline table keeps its own suppression; that it published a cell
                # before still tells which of its figures are new.
                table = (
                    before
                    if table.name not in HEADLINE
                    else dataclasses.replace(
                        table,
                        cells=table.cells.with_columns(before.cells.get_column(PUBLISHED_BEFORE)),
                    )
                )
            audited.append(table)

    protected, report = _protect_or_withhold(audited, releases, previous or {}, run_jobs)
    audited = [t for t in audited if t.name in {p.name for p in protected if not p.as_published}]
    flags = {t.name: t.cells for t in protected} | alone

    for rel in releases:
        if rel.withheld is not None:
            continue
        if rel.dataset.privacy is None:
            rel.frame = _publishable(rel.dataset, rel.built, rel.built.cells)
            continue
        cells = flags[rel.dataset.id]
        rel.frame = _publishable(rel.dataset, rel.built, cells)
    _record_disclosure(releases, audited, alone, report)
    return releases, report


def _hidden_before(table: AuditTable, ds: Dataset, before: pl.DataFrame) -> AuditTable:
    """``table`` as the previous version ``before`` (its keys and ``suppressed``) leaves it:
    a cell hidden there is suppressed already, and a cell published there is known to the
    reader, so hiding it now would protect nothing (``PUBLISHED_BEFORE``)."""
    keys = [f.name for f in ds.by_role("time", "dimension")]
    if not {*keys, "suppressed"} <= set(before.columns):
        return table  # a version of another grain: none of its cells is one of these
    earlier = before.select(
        *(pl.col(k).cast(pl.String).alias(f"_key_{k}") for k in keys),
        pl.col("suppressed").fill_null(value=False).alias("_hidden_before"),
    )
    marked = table.cells.with_columns(
        pl.col(k).cast(pl.String).alias(f"_key_{k}") for k in keys
    ).join(earlier, on=[f"_key_{k}" for k in keys], how="left", maintain_order="left")
    hidden = marked.get_column("_hidden_before")
    cells = table.cells.with_columns(
        (table.suppressed | hidden.fill_null(value=False)).alias("suppressed"),
        (hidden.is_not_null() & ~hidden.fill_null(value=False)).alias(PUBLISHED_BEFORE),
    )
    return dataclasses.replace(table, cells=cells)


def _complete_periods(cells: pl.DataFrame, keys: tuple[str, ...], last: int | None) -> pl.DataFrame:
    """``cells`` without the quarters and years that have not ended by ``last``: a
    statistics office publishes a year's figure once the year is over, and a partial one
    would be revised by every month that follows."""
    if last is None or "date" in keys or "month" in keys:
        return cells
    if "quarter" in keys:
        quarter = pl.col("quarter").cast(pl.String)
        ends = (
            quarter.str.slice(0, 4).cast(pl.Int64) * 100
            + quarter.str.slice(6, 1).cast(pl.Int64) * 3
        )
        return cells.filter(ends <= last)
    if "year" in keys:
        return cells.filter(pl.col("year").cast(pl.Int64) * 100 + 12 <= last)
    return cells


def _protect_or_withhold(
    audited: list[AuditTable],
    releases: list[DatasetRelease],
    previous: Mapping[str, pl.DataFrame],
    run_jobs: RunJobs,
) -> tuple[list[AuditTable], AuditReport]:
    """The tables protected together; a table with a cell that no further suppression
    protects is withheld (never published unprotected), a headline table too, and the rest
    protected again.

    A withheld table whose current version stays public is still known to a reader: that
    version is protected beside the others as it was published (:func:`_as_published`).
    When one of its hidden cells fails, the protection names the headline table whose new
    figures give it away (``disclosure.protect``), which is withheld in turn."""
    tables = list(audited) + [
        known
        for rel in releases
        if rel.withheld is not None and (known := _as_published(rel, previous)) is not None
    ]
    while True:
        try:
            return protect(tables, run_jobs=run_jobs)
        except Unprotectable as error:
            failing = next(t for t in tables if t.name == error.table)
            if failing.as_published or len(tables) == 1:
                raise
            name = error.table
            rel = next(r for r in releases if r.dataset.id == name)
            rel.withheld = f"its cells cannot all be protected beside the others: {error.message}"
            known = _as_published(rel, previous)
            tables = [t for t in tables if t.name != name] + ([known] if known else [])


def _as_published(rel: DatasetRelease, previous: Mapping[str, pl.DataFrame]) -> AuditTable | None:
    """What a reader keeps of a table withheld now: its current version's cells of the
    periods being built, suppressed as published, never suppressed further, and linked to
    the others only on the periods it covers. None when no version of it is public.

    Its cells take this build's true values, as if a reader knew what revisions since
    changed in them: a stronger reader than the real one, and consistent with the values of
    the tables beside it."""
    privacy = rel.dataset.privacy
    before = previous.get(rel.dataset.id)
    if privacy is None or not rel.built.quantities or before is None:
        return None
    table = _hidden_before(_audit_table(rel.dataset, rel.built), rel.dataset, before)
    covers_until = _covers_until(rel.dataset, before)
    cells = table.cells
    if covers_until is not None:
        # A cell a revision added to a period the version covers was never published:
        # hidden from the reader, and still part of what the period's cells add up to.
        shown = cells.get_column(PUBLISHED_BEFORE).fill_null(value=False)
        added = ~shown & (_ends(rel.dataset, cells) <= covers_until)
        cells = cells.with_columns((cells.get_column("suppressed") | added).alias("suppressed"))
    kept = cells.filter(pl.col(PUBLISHED_BEFORE) | pl.col("suppressed"))
    if kept.height == 0:
        return None
    return dataclasses.replace(
        table,
        cells=kept,
        protected=True,
        as_published=True,
        covers_until=covers_until,
    )


def _covers_until(ds: Dataset, before: pl.DataFrame) -> int | None:
    """The last month (``YYYYMM``) of the periods a version holds, by its time key."""
    if not ds.by_role("time") or before.height == 0:
        return None
    latest = _ends(ds, before).max()
    return None if latest is None else int(latest)  # type: ignore[arg-type]


def _ends(ds: Dataset, cells: pl.DataFrame) -> pl.Series:
    """The last month (``YYYYMM``) of each cell's period, by the table's time key."""
    key = ds.by_role("time")[0].name
    return cells.select(pl.col(key).cast(pl.String)).select(period_end([key])).to_series()


def _share(hidden: int, cells: int) -> float:
    """The share of cells sensitive by themselves (0 for an empty table), as
    :func:`bawaba.disclosure.sensitive_share` measures it."""
    return round(hidden / cells, 4) if cells else 0.0


def _record_disclosure(
    releases: list[DatasetRelease],
    audited: list[AuditTable],
    alone: dict[str, pl.DataFrame],
    report: AuditReport,
) -> None:
    """What each published table's disclosure report needs: counts and relations only."""
    linked = relations(audited)
    rows = report.rows
    # An audit of no suppressed cell may come back as a frame without columns.
    audited_by_table = (
        dict(rows.group_by("table").len().iter_rows()) if "table" in rows.columns else {}
    )
    for table in audited:
        rel = next(r for r in releases if r.dataset.id == table.name)
        rel.disclosure = DisclosureFacts(
            primary=rel.primary_cells,
            audited_cell_quantities=int(audited_by_table.get(table.name, 0)),
            restriction=dict(table.restriction),
            relations=tuple(r for r in linked if table.name in (r.left, r.right)),
        )
    for rel in releases:
        privacy = rel.dataset.privacy
        if rel.dataset.id in alone and privacy is not None:
            # The k rule alone suppressed these: every one of them is primary.
            rel.disclosure = DisclosureFacts(
                primary=rel.primary_cells, restriction=dict(privacy.restriction)
            )
