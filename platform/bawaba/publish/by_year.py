"""Building a release one calendar year at a time (and within a year a group of
departments at a time, ``partitions``): memory holds the cells and one part's group-by,
never the store's rows, and a year that nothing changed is not built again.

Every cell of every dataset lies in one calendar year (its day, month, quarter or year),
and every relation between linked tables holds within a year (a month adds up to its
year, a day to its year's hour-of-week profile), so each year's rows are built and
protected on their own and the tables stacked. What spans years is worked out around the
builds: the folding of services not published before from the density of the years built,
each payer's first quarter carried from one year to the next, and growth on the year before
over the stacked table (``Built.across``).

A year that the previous release published whole and to which no new or late row belongs
is taken from the current versions as they are (their rows of that year, byte for byte),
with the counts its build left in the release's year record. Without a record that covers
a year for every dataset, under the same catalog entry and code, the year is built again.

A table is published without the years its build withholds (a year in progress with too
few payers per cell, say) as long as no version showed a cell of them; otherwise it is
withheld whole, and its current version stays current (``_left_out``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson
import polars as pl

from bawaba import __version__
from bawaba.catalog import Catalog, Dataset
from bawaba.disclosure import AuditReport
from bawaba.disclosure.audit import RunJobs, in_threads
from bawaba.disclosure.linked import Relation
from bawaba.fsutil import write_atomic
from bawaba.publish import partitions, periods, revisions
from bawaba.publish.builders import first_quarters
from bawaba.publish.disclosure_report import DisclosureFacts
from bawaba.publish.firsts import KeptFirsts
from bawaba.publish.folding import apply_fold, density
from bawaba.publish.release import DatasetRelease, build_release
from bawaba.publish.rows import decode, streamed
from bawaba.reference import Reference
from bawaba.settings import Settings

Timed = Callable[[pl.LazyFrame], pl.LazyFrame]
"""Adds the time coordinates to rows (``coordinates.with_time``)."""


def in_year(year: int) -> pl.Expr:
    """True for the rows (with ``txn_date``) of ``year``."""
    return pl.col("txn_date").dt.year() == year


def year_of_cell(ds: Dataset) -> pl.Expr:
    """The calendar year of each of ``ds``'s published rows, from its time key."""
    key = ds.by_role("time")[0].name
    if key == "date":
        return pl.col(key).dt.year().cast(pl.Int64)
    if key in {"month", "quarter"}:
        return pl.col(key).str.slice(0, 4).cast(pl.Int64)
    return pl.col("year").cast(pl.Int64)


@dataclass(frozen=True)
class YearFacts:
    """What one year's build of one table counted: kept for the years not built again."""

    primary: int
    cells: int
    audited: int
    relations: tuple[Relation, ...]


@dataclass
class YearRecord:
    """Per dataset: the fingerprint of what built it, and each year's counts."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    years: dict[str, dict[int, YearFacts]] = field(default_factory=dict)
    """Per published dataset, each year's counts."""
    withheld: dict[str, dict[int, str]] = field(default_factory=dict)
    """Per withheld dataset, the years whose build withheld it, and why."""


def fingerprint(ds: Dataset) -> str:
    """Changes with the dataset's catalog entry and with the code that builds it: the
    entry itself, as the catalog states it, and the version of Bawaba."""
    return f"{ds.model_dump_json()} bawaba {__version__}"


def record_path(var_dir: Path, release: str) -> Path:
    return var_dir / "publish" / "years" / f"{release}.json"


def read_record(var_dir: Path, release: str | None) -> YearRecord:
    """The year record of ``release``; empty (every year is built) when there is none."""
    path = None if release is None else record_path(var_dir, release)
    if path is None or not path.exists():
        return YearRecord()
    raw = orjson.loads(path.read_bytes())
    return YearRecord(
        dict(raw["fingerprints"]),
        {
            ds: {
                int(year): YearFacts(
                    f["primary"],
                    f["cells"],
                    f["audited"],
                    tuple(
                        Relation(
                            r["left"],
                            r["right"],
                            tuple(r["on"]),
                            tuple(r["quantities"]),
                            r["within"],
                        )
                        for r in f["relations"]
                    ),
                )
                for year, f in years.items()
            }
            for ds, years in raw["years"].items()
        },
        {
            ds: {int(y): why for y, why in years.items()}
            for ds, years in raw.get("withheld", {}).items()
        },
    )


def write_record(var_dir: Path, release: str, record: YearRecord) -> None:
    def by_year(per_dataset: Mapping[str, Mapping[int, object]]) -> dict[str, object]:
        return {ds: {str(y): v for y, v in sorted(ys.items())} for ds, ys in per_dataset.items()}

    data = {
        "fingerprints": record.fingerprints,
        "years": by_year(record.years),
        "withheld": by_year(record.withheld),
    }
    write_atomic(record_path(var_dir, release), orjson.dumps(data, option=orjson.OPT_INDENT_2))


@dataclass
class Built:
    releases: list[DatasetRelease]
    audit: AuditReport
    fresh: pl.DataFrame
    """The rows, services folded, that the previous release had not published (text
    columns as plain text): those a revised cell moved, less what corrections took out
    (:func:`moved_rows`)."""
    record: YearRecord
    """This build's year record, for the next publish."""
    built_years: list[int]
    reused_years: list[int]


@dataclass(frozen=True)
class YearJob:
    """One year to build, and what the years up to it say of each payer's first quarter."""

    year: int | None
    firsts: pl.DataFrame


@dataclass
class YearBuilt:
    releases: list[DatasetRelease]
    audit: AuditReport
    fresh: pl.DataFrame | None
    """The year's rows the previous release had not published (``Built.fresh``)."""


BuildYears = Callable[[list[YearJob], int | None], list[YearBuilt]]
"""Builds the years of the jobs given, in their order, with the store's latest month."""


@dataclass(frozen=True)
class Limits:
    """What a build may take on: the suppression audit's largest table, and the rows of
    the store built at a time (``publish.partitions``)."""

    audit_cells: int
    part_rows: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_audit_cells, settings.publish_part_rows)


def build_year(
    chosen: pl.LazyFrame,
    groups: list[partitions.Part],
    catalog: Catalog,
    reference: Reference,
    limits: Limits,
    previous: Mapping[str, pl.DataFrame],
    folds: dict[str, str],
    published: revisions.Published | None,
    last: int | None,
    firsts: pl.DataFrame | None,
    timed: Timed,
    *,
    run_jobs: RunJobs = in_threads,
) -> YearBuilt:
    """One year's (or all ``chosen``'s) datasets, protected together, built a part
    (``groups``) at a time: the unit of work of a publish, here or as a task (whose
    ``run_jobs`` may send the disclosure audit's jobs on as tasks of their own)."""
    # Lazy: each builder streams the year's rows from the store (``rows.streamed``), a
    # group of departments at a time (``partitions``), so the build holds cells and the
    # state of one part's group-by, never the year's rows.
    store = apply_fold(timed(chosen.drop("date")), folds)
    releases, audit = build_release(
        store,
        groups,
        catalog,
        reference,
        limits.audit_cells,
        previous,
        last=last,
        first_quarters=firsts,
        run_jobs=run_jobs,
    )
    fresh = None
    if published is not None:
        fresh = _as_built(chosen.filter(~revisions.already_published(published)), folds, timed)
    return YearBuilt(releases, audit, fresh)


def _as_built(rows: pl.LazyFrame, folds: dict[str, str], timed: Timed) -> pl.DataFrame:
    """``rows`` (with ``date``) as a build sees them: services folded, with their periods,
    text columns as plain text."""
    return decode(streamed(timed(apply_fold(rows, folds).drop("date"))))


@dataclass
class _Year:
    year: int | None
    releases: list[DatasetRelease] | None = None
    """None for a year taken from the current versions."""
    audit: AuditReport | None = None


def years_to_build(
    counts: pl.DataFrame,
    catalog: Catalog,
    published: revisions.Published | None,
    previous: Mapping[str, pl.DataFrame],
    record: YearRecord,
    withdrawn: pl.DataFrame,
) -> tuple[list[int], list[int]]:
    """The years to build and the years to take as published, of the rows ``counts``
    count (``periods``); a year some of whose published rows are ``withdrawn`` (as
    ``revisions.Split`` says) is built again."""
    years = periods.years(counts)
    if published is None:
        return years, []
    new = ~revisions.already_published(published, pl.col(revisions.PERIOD))
    fresh = set(periods.years(counts.filter(new))) | set(periods.years(withdrawn))
    timed = [ds for ds in catalog.datasets if ds.by_role("time")]
    closed = [y for y in years if y not in fresh]
    if not all(record.fingerprints.get(ds.id) == fingerprint(ds) for ds in timed):
        closed = []  # a dataset new to the catalog, changed, or built by other code
    for ds in timed:
        why = record.withheld.get(ds.id)
        if why is not None and not record.years.get(ds.id) and not set(why) & set(closed):
            # Withheld whole for a year built now only: it may be published now, and then
            # needs every year built.
            closed = []
    # A table published without some years (``_left_out``) has the others recorded.
    kept_tables = [ds for ds in timed if ds.id not in record.withheld or record.years.get(ds.id)]
    reused = [
        y
        for y in closed
        if all(
            ds.id in previous
            and (y in record.years.get(ds.id, {}) or y in record.withheld.get(ds.id, {}))
            for ds in kept_tables
        )
    ]
    if reused == years and years:
        # Builders describe their cells (keys, contributors, cross-period measures) only
        # when they run: the latest year is always built.
        reused.pop()
    return [y for y in years if y not in reused], reused


def moved_rows(
    fresh: pl.DataFrame, withdrawn: pl.DataFrame, folds: dict[str, str], timed: Timed
) -> pl.DataFrame:
    """The rows that move the cells a release revises: ``fresh`` (``Built.fresh``) net of
    the published rows it takes out (``revisions.Split.withdrawn``, made like ``fresh``:
    services folded, with their periods; ``revisions.net_change``)."""
    if not withdrawn.height:
        return fresh
    taken = _as_built(withdrawn.lazy().drop(revisions.PERIOD), folds, timed)
    months = withdrawn.get_column(revisions.PERIOD).unique().to_list()
    touched = revisions.period_of(pl.col("txn_date")).is_in(months)
    on = [c for c in fresh.columns if c != "run_id"]
    return pl.concat(
        [fresh.filter(~touched), revisions.net_change(fresh.filter(touched), taken, on)]
    )


def densities(
    rows: pl.LazyFrame, counts: pl.DataFrame, years: Sequence[int], k: int, part_rows: int
) -> pl.DataFrame:
    """The services' density counts (``folding.density``) over ``years``, a year and a
    group of departments at a time (all of ``rows`` when no year is given); ``counts``
    are the rows' (``periods``)."""
    chosen: list[int | None] = [*years] or [None]
    return pl.concat(
        density(part.of(_of_year(rows, year)), k)
        for year in chosen
        for part in partitions.parts(periods.of_year(counts, year), part_rows)
    )


def _of_year(rows: pl.LazyFrame, year: int | None) -> pl.LazyFrame:
    return rows if year is None else rows.filter(in_year(year))


def build(
    rows: pl.LazyFrame,
    counts: pl.DataFrame,
    catalog: Catalog,
    reference: Reference,
    limits: Limits,
    previous: Mapping[str, pl.DataFrame],
    folds: dict[str, str],
    published: revisions.Published | None,
    plan: tuple[list[int], list[int]],
    record: YearRecord,
    timed: Timed,
    say: Callable[[str], None],
    elsewhere: BuildYears | None = None,
    kept_firsts: KeptFirsts | None = None,
) -> Built:
    """Every dataset of ``catalog`` from ``rows`` (the store's rows to publish, with
    ``txn_date`` and ``date``; ``counts``, theirs per part and month, ``periods``), a year
    at a time: ``plan`` names the years to build and those to take as published
    (:func:`years_to_build`); ``previous``, ``published`` and ``record`` are the current
    release's tables, record of rows and year record.
    ``elsewhere`` builds the years instead of this process (``publish.on_cluster``), each
    from the rows it reads itself; the rest is done here as without it. ``kept_firsts``
    holds the payers' first quarters of years whose rows have not changed (``firsts``)."""
    kept_firsts = kept_firsts or KeptFirsts(None)
    built_years, reused_years = plan
    last = periods.last_month(counts)
    parts: list[_Year] = []
    fresh: list[pl.DataFrame] = []
    firsts: pl.DataFrame | None = None
    every: list[int | None] = [*sorted(built_years + reused_years)] or [None]
    jobs: list[YearJob] = []
    for year in every:
        chosen = _of_year(rows, year)
        counted = periods.of_year(counts, year)
        groups = partitions.parts(counted, limits.part_rows)
        mine = kept_firsts.of_year(year, counted, partial(_first_quarters, chosen, groups))
        firsts = mine if firsts is None else _earliest(firsts, mine)
        if year in reused_years:
            parts.append(_Year(year))
            continue
        if elsewhere is not None:
            jobs.append(YearJob(year, firsts))
            parts.append(_Year(year))
            continue
        say("building datasets under disclosure control" + ("" if year is None else f": {year}"))
        done = build_year(
            chosen,
            groups,
            catalog,
            reference,
            limits,
            previous,
            folds,
            published,
            last,
            firsts,
            timed,
        )
        parts.append(_Year(year, done.releases, done.audit))
        if done.fresh is not None:
            fresh.append(done.fresh)
    if elsewhere is not None and jobs:
        say(f"building {len(jobs)} year(s) under disclosure control on the cluster")
        built_on = dict(zip([j.year for j in jobs], elsewhere(jobs, last), strict=True))
        for part in parts:
            if part.year in built_on:
                done = built_on[part.year]
                part.releases, part.audit = done.releases, done.audit
                if done.fresh is not None:
                    fresh.append(done.fresh)
    stacked = [_stacked(parts, i, previous, record) for i in range(len(catalog.datasets))]
    _relations_among_published(stacked)
    return Built(
        stacked,
        _audits([p.audit for p in parts if p.audit is not None]),
        pl.concat(fresh) if fresh else pl.DataFrame(),
        _next_record(catalog, parts, stacked, record),
        built_years,
        reused_years,
    )


def _first_quarters(rows: pl.LazyFrame, groups: list[partitions.Part]) -> pl.DataFrame:
    return pl.concat(streamed(first_quarters(part.of(rows))) for part in groups)


def _earliest(known: pl.DataFrame, more: pl.DataFrame) -> pl.DataFrame:
    """Each payer's first quarter over ``known`` (of earlier years) and ``more`` (of the
    year after them): the known one, else the new one. A department at a time, so that
    what is held beside the two is one department's payers."""
    before = known.partition_by("department", as_dict=True)
    merged = []
    for (department,), new in more.partition_by("department", as_dict=True).items():
        earlier = before.pop((department,), None)
        if earlier is None:
            merged.append(new)
            continue
        merged += [earlier, new.join(earlier, on="payer_id", how="anti")]
    return pl.concat([*before.values(), *merged])


def _facts_of(rel: DatasetRelease) -> YearFacts:
    facts = rel.disclosure
    return YearFacts(
        primary=rel.primary_cells,
        cells=rel.built.cells.height,
        audited=facts.audited_cell_quantities if facts else 0,
        relations=facts.relations if facts else (),
    )


def _stacked(
    parts: Sequence[_Year], index: int, previous: Mapping[str, pl.DataFrame], record: YearRecord
) -> DatasetRelease:
    """One dataset's yearly builds, and its rows of the years taken as published, as one
    table."""
    built = [(p.year, p.releases[index]) for p in parts if p.releases is not None]
    ds = built[0][1].dataset
    if not ds.by_role("time"):
        # Without a time coordinate (the e-service catalog) every year builds the same.
        return built[-1][1]
    reused = [p.year for p in parts if p.releases is None and p.year is not None]
    kept = record.years.get(ds.id, {})
    # A table withheld before has no counts of the years taken as published; it stays
    # withheld (below), and counts only the years built.
    counted = [y for y in reused if y in kept]
    withheld = [(y, r.withheld) for y, r in built if r.withheld] + sorted(
        (y, why) for y, why in record.withheld.get(ds.id, {}).items() if y in reused
    )
    withheld_years = {y: w for y, w in withheld if y is not None}
    shown = [p for p in parts if p.year not in withheld_years]
    whole = bool(withheld) and (
        any(y is None for y, _ in withheld)  # withheld by a build of every year at once
        or not shown
        or not _left_out(ds, withheld_years, previous)
    )
    template = built[0][1].built
    if not whole:
        # Published without the years it cannot show: it counts the years it shows.
        built = [(y, r) for y, r in built if y not in withheld_years]
    cells = (
        pl.concat([r.built.cells for _, r in built], how="diagonal_relaxed")
        if built
        else template.cells.clear()
    )
    stacked = DatasetRelease(
        ds, dataclasses.replace(template, cells=cells), reused_years=tuple(reused)
    )
    stacked.withheld_years = withheld_years
    stacked.primary_cells = sum(r.primary_cells for _, r in built) + sum(
        kept[y].primary for y in counted
    )
    total = cells.height + sum(kept[y].cells for y in counted)
    stacked.sensitive_share = round(stacked.primary_cells / total, 4) if total else 0.0
    if whole:
        year, why = withheld[0]
        stacked.withheld = why if year is None else f"{year}: {why}"
    else:
        ours = {y: r.frame for y, r in built if r.frame is not None}
        year_of = year_of_cell(ds)
        table = pl.concat(
            ours[p.year] if p.releases is not None else previous[ds.id].filter(year_of == p.year)
            for p in shown
        )
        stacked.frame = template.across(table.sort(list(ds.sort_by), maintain_order=True))
    facts = [r.disclosure for _, r in built if r.disclosure is not None]
    if facts:
        stacked.disclosure = DisclosureFacts(
            primary=stacked.primary_cells,
            audited_cell_quantities=sum(f.audited_cell_quantities for f in facts)
            + sum(kept[y].audited for y in counted),
            restriction=facts[0].restriction,
            contributors=facts[0].contributors,
            relations=tuple(
                dict.fromkeys(
                    [r for f in facts for r in f.relations]
                    + [r for y in counted for r in kept[y].relations]
                )
            ),
        )
    return stacked


def _left_out(ds: Dataset, years: Mapping[int, str], previous: Mapping[str, pl.DataFrame]) -> bool:
    """Whether ``ds`` may be published without ``years`` (those its build withheld): only
    when its current version has no cell of them, and so no earlier version either (a year
    once shown that cannot be shown again withholds the whole table, which keeps that
    version current). Each year's audit then matches what a reader has: the years shown
    were audited with the table, the years left out without it. Leaving out a year
    published before would not unpublish it, and the audit of that year, which left the
    table out, would not match the cells a reader keeps."""
    before = previous.get(ds.id)
    if before is None or before.height == 0:
        return True
    return before.filter(year_of_cell(ds).is_in(list(years))).height == 0


def _relations_among_published(releases: Sequence[DatasetRelease]) -> None:
    """A year's audit may have linked a table that another year withholds: a report names
    only the relations between tables this release publishes."""
    withheld = {r.dataset.id for r in releases if r.withheld is not None}
    for rel in releases:
        if rel.disclosure is not None:
            kept = tuple(r for r in rel.disclosure.relations if not {r.left, r.right} & withheld)
            rel.disclosure = dataclasses.replace(rel.disclosure, relations=kept)


def _next_record(
    catalog: Catalog, parts: Sequence[_Year], stacked: Sequence[DatasetRelease], record: YearRecord
) -> YearRecord:
    """The year record of the release being built: the datasets it publishes, each year's
    counts from its build or as recorded before."""
    out = YearRecord()
    for index, (ds, rel) in enumerate(zip(catalog.datasets, stacked, strict=True)):
        if not ds.by_role("time"):
            continue
        out.fingerprints[ds.id] = fingerprint(ds)
        if rel.withheld_years or rel.withheld is not None:
            out.withheld[ds.id] = rel.withheld_years
        if rel.withheld is not None:
            continue
        years: dict[int, YearFacts] = {}
        for p in parts:
            if p.year is None or p.year in rel.withheld_years:
                continue
            built = p.releases[index] if p.releases is not None else None
            years[p.year] = _facts_of(built) if built else record.years[ds.id][p.year]
        out.years[ds.id] = years
    return out


def _audits(reports: Sequence[AuditReport]) -> AuditReport:
    rows = [r.rows for r in reports if r.rows.width]
    return AuditReport(
        pl.concat(rows, how="diagonal_relaxed") if rows else pl.DataFrame(),
        tuple(f for r in reports for f in r.failures),
    )
