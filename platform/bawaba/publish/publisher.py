"""``bawaba publish``: build the release, gate it, and switch to it, or change nothing.

Steps: load the store -> build every dataset under disclosure control -> stage each as
Parquet -> gate the staged files -> install changed datasets as new versions (each with
what it changed against the current one: publish.changes) -> switch the release pointer
-> sweep. Until the switch, readers see the previous release whole; a gate failure or a
crash before it leaves everything as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl

from bawaba import __version__
from bawaba.catalog import Catalog, Dataset, load_catalog
from bawaba.core import versions
from bawaba.core.release_storage import ReleaseStorage, open_storage
from bawaba.errors import BawabaError
from bawaba.fsutil import PUBLIC, sha256_file, write_atomic
from bawaba.ingest.store import read_state
from bawaba.publish import by_year, changes, disclosure_report, gate, periods, revisions
from bawaba.publish.coordinates import with_time
from bawaba.publish.firsts import KeptFirsts
from bawaba.publish.folding import folds_of
from bawaba.publish.release import DatasetRelease
from bawaba.publish.rows import decode, live_parts, scan_rows
from bawaba.reference import load_reference
from bawaba.settings import Settings

Progress = Callable[[str], None]


class GateFailed(BawabaError):
    slug = "gate-failed"


@dataclass
class DatasetOutcome:
    dataset: str
    version: str | None
    status: str
    """new | unchanged | withheld"""
    rows: int = 0
    suppressed: int = 0
    note: str = ""
    added_periods: list[str] = field(default_factory=list)
    revised_periods: dict[str, int] = field(default_factory=dict)
    """A new version's periods with cells revised or removed, and how many (publish.changes)."""


@dataclass
class PublishReport:
    release: str
    switched: bool
    datasets: list[DatasetOutcome] = field(default_factory=list)
    gate: list[dict[str, object]] = field(default_factory=list)
    held_back_months: list[int] = field(default_factory=list)
    """Months (``YYYYMM``) whose late rows wait for a later publish: they would move some
    cell by fewer than k payers."""
    built_years: list[int] = field(default_factory=list)
    """Years built from the store this time."""
    reused_years: list[int] = field(default_factory=list)
    """Years taken from the current versions as published (nothing new in them)."""


@dataclass
class Rows:
    """The analytic rows a release publishes (read lazily: ``by_year`` reads a year at a
    time), which years it builds, and how it publishes their services."""

    kept: pl.LazyFrame
    """Every row of the store but the late rows held back, with ``date``."""
    counts: pl.DataFrame
    """The kept rows' counts per part and month (``periods``)."""
    plan: tuple[list[int], list[int]]
    """The years to build, and those taken from the current versions as published."""
    folds: dict[str, str]
    services: dict[str, str]
    """Every service code published so far -> the code it is published under."""
    published: revisions.Published
    held_months: list[int]
    withdrawn: pl.DataFrame
    """Published rows taken out by the corrections taken in (``revisions.Split``)."""


def release_rows(
    settings: Settings,
    catalog: Catalog,
    published_before: revisions.Published | None,
    *,
    keep_counts: bool,
) -> revisions.Split:
    """The store's rows a release publishes (with ``date``), lazily, and what
    ``revisions.split_late_rows`` says of the rest: the same wherever it is read. With
    ``keep_counts`` the parts' counts (``periods``) are kept for the next publish."""

    def read(parts: Sequence[str]) -> pl.LazyFrame:
        return scan_rows(settings, parts).with_columns(pl.col("txn_date").alias("date"))

    # One reading of the manifest for the rows and their counts: a run that commits
    # meanwhile is left for the next publish.
    state = read_state(settings)
    counts = periods.count(settings, state, keep=keep_counts)
    rows = read(list(live_parts(state)))
    return revisions.split_late_rows(rows, counts, catalog, published_before, read)


def _select_rows(
    settings: Settings,
    catalog: Catalog,
    current: versions.Release | None,
    before: dict[str, pl.DataFrame],
    record: by_year.YearRecord,
    premium_k: int,
) -> Rows:
    published_before = current.published_rows if current else None
    split = release_rows(settings, catalog, published_before, keep_counts=True)
    plan = by_year.years_to_build(
        split.counts, catalog, published_before, before, record, split.withdrawn
    )
    decided = current.services if current else {}
    # A service keeps the code earlier releases published it under; only a service no
    # release has published yet (its rows lie in the years built) is folded (or not) by
    # its density so far.
    counts = by_year.densities(
        split.kept, split.counts, plan[0], premium_k, settings.publish_part_rows
    )
    fresh_folds = folds_of(counts)
    folds = {s: c for s, c in decided.items() if c != s} | {
        s: c for s, c in fresh_folds.items() if s not in decided
    }
    seen = counts.get_column("service").unique().to_list()
    services = decided | {s: folds.get(s, s) for s in sorted(seen) if s is not None}
    return Rows(
        split.kept,
        split.counts,
        plan,
        folds,
        services,
        split.published,
        split.held,
        split.withdrawn,
    )


def _gate(
    rel: DatasetRelease,
    path: Path,
    fresh: pl.DataFrame,
    previous: pl.DataFrame | None,
) -> gate.GateResult:
    ds: Dataset = rel.dataset
    frame = pl.read_parquet(path)
    result = gate.GateResult(ds.id, rows=frame.height, suppressed=rel.suppressed)
    gate.check_columns(frame, ds, result)
    gate.check_ranges(frame, ds, result)
    gate.check_code_lists(frame, ds, load_reference(), result)
    gate.check_pii(frame, ds, path, result)
    if ds.privacy is not None and result.passed:
        keys = list(rel.built.keys)
        # A year taken as published was gated when it was built; its cells are not counted
        # again (``by_year``).
        built = frame.filter(~by_year.year_of_cell(ds).is_in(list(rel.reused_years)))
        # The builder's cells are the per-payer count of the analytic rows before any
        # suppression (``cells.cube``, the same count a recount would repeat at the cost of
        # another pass over every row): the gate holds the serialised file against them,
        # independently of the flags disclosure control set.
        gate.check_thresholds(
            built,
            rel.built.cells,
            keys,
            ds.privacy.k,
            ds.privacy.p,
            result,
            contributors=rel.built.contributors,
            sub_payers=rel.built.sub_payers,
        )
        # Only a revision of a previous version needs the payers who moved each cell.
        moved = (
            decode(revisions.movers(fresh.lazy(), ds, rel.built.payers_from).collect())
            if previous is not None
            else pl.DataFrame()
        )
        gate.check_revision(frame, previous, moved, keys, ds.privacy.k, result)
    return result


def _elsewhere(
    settings: Settings,
    catalog: Catalog,
    before: dict[str, pl.DataFrame],
    rows: Rows,
    current: versions.Release | None,
    say: Callable[[str], None],
) -> by_year.BuildYears | None:
    """The years' builds on the cluster of ``settings.dask_scheduler``, if one is set."""
    if settings.dask_scheduler is None:
        return None
    from bawaba.publish.on_cluster import years_on_cluster

    return years_on_cluster(
        settings, catalog, before, rows.folds, current.published_rows if current else None, say
    )


def _current_frames(
    storage: ReleaseStorage, current: versions.Release | None, catalog: Catalog
) -> dict[str, pl.DataFrame]:
    """The current version of every dataset that has one, read once per publish: disclosure
    control, the revision rule and the change summary all compare with it."""
    if current is None:
        return {}
    return {
        ds.id: pl.read_parquet(storage.local_file(ds.id, current.datasets[ds.id], versions.DATA))
        for ds in catalog.datasets
        if ds.id in current.datasets
    }


def publish(settings: Settings, progress: Progress | None = None) -> PublishReport:
    say = progress or (lambda _: None)
    catalog = load_catalog(settings.catalog_path)
    premium_k = min((d.privacy.k for d in catalog.datasets if d.privacy), default=5)
    release_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    storage = open_storage(settings)
    report = PublishReport(release_id, switched=False)
    with storage.publishing():
        pointer = storage.read_pointer()
        current = pointer.release if pointer else None
        storage.sweep(current, settings.keep_versions)
        say("reading the analytic store")
        before = _current_frames(storage, current, catalog)
        record = by_year.read_record(settings.var_dir, current.release if current else None)
        rows = _select_rows(settings, catalog, current, before, record, premium_k)
        if rows.plan == ([], []):
            raise BawabaError(
                f"the analytic store under {settings.var_dir} holds no rows: nothing to publish",
                hint="run `bawaba pipelines run` first (or `bawaba demo`); "
                "the current release, if any, stays current",
                slug="empty-store",
            )
        report.held_back_months = rows.held_months
        report.built_years, report.reused_years = rows.plan
        built = by_year.build(
            rows.kept,
            rows.counts,
            catalog,
            load_reference(),
            by_year.Limits.of(settings),
            before,
            rows.folds,
            current.published_rows if current else None,
            rows.plan,
            record,
            with_time,
            say,
            _elsewhere(settings, catalog, before, rows, current, say),
            KeptFirsts(settings.var_dir / "publish" / "firsts"),
        )
        releases, audit = built.releases, built.audit
        moved = by_year.moved_rows(built.fresh, rows.withdrawn, rows.folds, with_time)
        staging = storage.staging_dir() / release_id
        results: list[gate.GateResult] = []
        staged: dict[str, Path] = {}
        for rel in releases:
            if rel.frame is None:
                continue
            say(f"gating {rel.dataset.id}")
            folder = staging / rel.dataset.id
            folder.mkdir(parents=True)
            path = folder / versions.DATA
            rel.frame.write_parquet(
                path, compression="zstd", statistics=True, row_group_size=100_000
            )
            results.append(_gate(rel, path, moved, before.get(rel.dataset.id)))
            staged[rel.dataset.id] = folder
        report.gate = [_gate_summary(r) for r in results]
        failed = [r for r in results if not r.passed]
        if failed or not audit.ok:
            _write_report(settings, report)
            first = failed[0].findings[0] if failed else None
            raise GateFailed(
                f"the publish gate refused {len(failed)} dataset(s)"
                + (
                    f", first {first.where}: {first.message} [{first.rule}]"
                    if first
                    else f"; the suppression audit failed: {audit.summary()}"
                ),
                hint="nothing was published; the previous release stays current",
            )
        chosen: dict[str, str] = dict(current.datasets) if current else {}
        for rel in releases:
            outcome = _install(
                rel,
                staged.get(rel.dataset.id),
                storage,
                current,
                sorted(rows.published),
                results,
                rows.folds,
                release_id,
                before.get(rel.dataset.id),
            )
            report.datasets.append(outcome)
            if outcome.version is not None:
                chosen[rel.dataset.id] = outcome.version
        if current is None or chosen != current.datasets:
            release = versions.Release(
                release=release_id,
                created_at=_now(),
                datasets=chosen,
                published_rows=rows.published,
                services=rows.services,
            )
            # The year record first: a release without one is only built again whole.
            by_year.write_record(settings.var_dir, release_id, built.record)
            storage.switch_pointer(release, pointer)
            report.switched = True
        switched = storage.read_pointer()
        storage.sweep(switched.release if switched else None, settings.keep_versions)
    _write_report(settings, report)
    return report


def _install(
    rel: DatasetRelease,
    folder: Path | None,
    storage: ReleaseStorage,
    current: versions.Release | None,
    runs: list[str],
    results: list[gate.GateResult],
    folds: dict[str, str],
    release_id: str,
    previous: pl.DataFrame | None,
) -> DatasetOutcome:
    dataset = rel.dataset.id
    live = current.datasets.get(dataset) if current else None
    if folder is None:
        return DatasetOutcome(dataset, live, "withheld", note=rel.withheld or "")
    data = folder / versions.DATA
    digest = sha256_file(data)
    if live is not None:
        manifest = versions.VersionManifest.model_validate_json(
            storage.read_object(dataset, live, versions.MANIFEST) or b""
        )
        if manifest.files and manifest.files[0].sha256 == digest:
            return DatasetOutcome(
                dataset,
                live,
                "unchanged",
                rows=manifest.rows,
                suppressed=rel.suppressed,
                note=_years_left_out(rel),
            )
    result = next(r for r in results if r.dataset == dataset)
    version = storage.next_version(dataset)
    assert rel.frame is not None
    manifest = versions.VersionManifest(
        dataset=dataset,
        version=version,
        created_at=_now(),
        rows=rel.frame.height,
        files=[versions.FileEntry(name=versions.DATA, bytes=data.stat().st_size, sha256=digest)],
        schema_=[{"name": n, "type": str(t)} for n, t in rel.frame.schema.items()],
        lineage={
            "ingestion_runs": runs,
            "release": release_id,
            "bawaba": __version__,
            "folded_services": len(folds),
        },
        gate=_gate_summary(result),
    )
    write_atomic(
        folder / versions.MANIFEST,
        orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2),
        PUBLIC,
    )
    write_atomic(
        folder / versions.GATE_REPORT,
        orjson.dumps(_gate_summary(result), option=orjson.OPT_INDENT_2),
        PUBLIC,
    )
    write_atomic(folder / versions.DISCLOSURE, _disclosure(rel, version, manifest), PUBLIC)
    # Against the current version: both public, so the summary reveals nothing new.
    summary = changes.compare(rel.dataset, version, rel.frame, previous, live)
    write_atomic(folder / changes.CHANGES, changes.encode(summary), PUBLIC)
    storage.write_version(folder, dataset, version)
    return DatasetOutcome(
        dataset,
        version,
        "new",
        rows=rel.frame.height,
        suppressed=rel.suppressed,
        note=_years_left_out(rel),
        added_periods=summary.added_periods,
        revised_periods=summary.revised_periods,
    )


def _years_left_out(rel: DatasetRelease) -> str:
    """The years a published table leaves out, and why (``by_year._left_out``)."""
    return "; ".join(f"{year} left out: {why}" for year, why in sorted(rel.withheld_years.items()))


def _disclosure(rel: DatasetRelease, version: str, manifest: versions.VersionManifest) -> bytes:
    """The version's public disclosure report (see publish.disclosure_report)."""
    if rel.disclosure is None:
        report = disclosure_report.uncontrolled(rel.dataset, version)
    else:
        report = disclosure_report.build_report(
            rel.dataset,
            version,
            rel.disclosure,
            rows=manifest.rows,
            suppressed=rel.suppressed,
            release=str(manifest.lineage["release"]),
            released_at=manifest.created_at,
        )
    return disclosure_report.encode(report)


def _gate_summary(result: gate.GateResult) -> dict[str, object]:
    return {
        "dataset": result.dataset,
        "passed": result.passed,
        "rules": result.rules,
        "rows": result.rows,
        "suppressed_cells": result.suppressed,
        "findings": [f.__dict__ for f in result.findings],
    }


def _write_report(settings: Settings, report: PublishReport) -> None:
    from dataclasses import asdict

    write_atomic(
        settings.var_dir / "publish" / f"{report.release}.json",
        orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
