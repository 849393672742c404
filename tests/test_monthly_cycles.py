"""Month after month: twelve publishing cycles across a year boundary, through the CLI.

Each cycle lets the simulated departments' time pass by one month (``simulate --through``),
ingests what they delivered (the month, and the previous month's late records) and
publishes. Every cycle must publish the new month; a month already published changes only
by a revision that moves each changed cell by at least k payers; and the independent
attacker, reading every version ever published, recovers nothing.
"""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import orjson
import polars as pl
import pytest

from attacker import Attack, attack_release
from bawaba.catalog.load import load_catalog
from bawaba.core import versions
from bawaba.publish import by_year
from bawaba.settings import Settings
from conftest import ROOT, random_key
from test_publish import _late_payments_of_one_cell, bawaba

pytestmark = pytest.mark.xdist_group("monthly-cycles")

# File-drop departments of every format (JSON lines, Parquet, CSV): enough linked tables
# for the attacker, few enough rows for twelve cycles in CI.
DEPARTMENTS = ("RTA", "DEWA", "DM", "DED", "DTCM", "DP", "DCAA")
MONTHS = [
    f"{y}-{m:02d}"
    for y, m in [(2012, m) for m in range(10, 13)] + [(2013, m) for m in range(1, 10)]
]
# At this scale every month's late records move some cell by fewer than k payers, and wait:
# one month's are replaced by fifteen payers' payments to one cell, which the revision rule
# lets in, so that a published month is revised within the cycles. (The other departments'
# late files of that month, removed, are delivered again at the next cycle.)
REVISED, AFTER_REVISED = "2013-01", "2013-02"


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """Twelve cycles; the settings, and what each cycle's ``publish`` printed."""
    root: Path = tmp_path_factory.mktemp("cycles")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.05,
        pseudonym_key=random_key(),
        keep_versions=100,  # a reader keeps every version: so does this test
    )  # type: ignore[arg-type]
    printed = []
    for month in MONTHS:
        chosen = [arg for d in DEPARTMENTS for arg in ("--department", d)]
        bawaba(settings, "simulate", "--through", month, *chosen)
        if month == AFTER_REVISED:
            _late_payments_of_one_cell(settings, REVISED, payers=15)
        bawaba(settings, "pipelines", "run", *DEPARTMENTS)
        if month == MONTHS[-1]:
            for name in ("var", "datasets"):
                shutil.copytree(root / name, _before_last(settings) / name, symlinks=True)
        printed.append(bawaba(settings, "publish").stdout)
    return settings, printed


def _before_last(settings: Settings) -> Path:
    """Where the cycles' store and releases are copied just before the last publish."""
    return settings.var_dir.parent / "before-last-publish"


def _versions(settings: Settings, dataset: str) -> list[pl.DataFrame]:
    return [
        pl.read_parquet(settings.datasets_dir / dataset / v / versions.DATA)
        for v in versions.versions_of(settings.datasets_dir, dataset)
    ]


def test_every_cycle_publishes_its_month(cycles: tuple[Settings, list[str]]) -> None:
    settings, printed = cycles
    assert all("switched to the new release" in out for out in printed), printed
    monthly = _versions(settings, "epay-monthly")
    assert len(monthly) == len(MONTHS)
    for month, frame in zip(MONTHS, monthly, strict=True):
        assert frame.get_column("month").max() == month


def test_a_closed_year_is_not_built_again(cycles: tuple[Settings, list[str]]) -> None:
    """From the second month of a year on (the previous December's late records are in),
    a monthly publish builds only the year in progress and takes the closed year's rows
    from the current versions as they are."""
    settings, _ = cycles
    reports = [
        orjson.loads(path.read_bytes())
        for path in sorted((settings.var_dir / "publish").glob("*.json"))
    ]
    assert len(reports) == len(MONTHS)
    for month, report in zip(MONTHS, reports, strict=True):
        year = int(month[:4])
        if month >= "2013-02":
            assert (report["built_years"], report["reused_years"]) == ([2013], [2012]), month
        else:
            assert year in report["built_years"], month
    # A year taken as published keeps its rows byte for byte in every version published
    # while it was (the version current when 2012 was first taken as published included).
    compared = 0
    for ds in load_catalog(settings.catalog_path).datasets:
        if not ds.by_role("time"):
            continue
        chosen = dict.fromkeys(
            d["version"]
            for month, report in zip(MONTHS, reports, strict=True)
            if month >= "2013-02"
            for d in report["datasets"]
            if d["dataset"] == ds.id and d["version"] is not None
        )
        year = by_year.year_of_cell(ds)
        frames = [
            pl.read_parquet(settings.datasets_dir / ds.id / v / versions.DATA).filter(year == 2012)
            for v in chosen
        ]
        for before, after in pairwise(frames):
            assert before.equals(after), ds.id
            compared += 1
    assert compared > 0


def test_a_published_month_changes_only_by_a_revision_of_k_payers(
    cycles: tuple[Settings, list[str]],
) -> None:
    settings, printed = cycles
    catalog = load_catalog(settings.catalog_path)
    assert f"revises {REVISED}" in printed[MONTHS.index(AFTER_REVISED)]
    compared = revised = 0
    for ds in catalog.datasets:
        if ds.privacy is None:
            continue
        keys = [f.name for f in ds.by_role("time", "dimension")]
        frames = _versions(settings, ds.id)
        for before, after in pairwise(frames):
            both = before.join(after, on=keys, how="inner", suffix="_after")
            compared += both.height
            # A cell published before is never hidden later (a reader has its value).
            assert both.filter(~pl.col("suppressed") & pl.col("suppressed_after")).height == 0
            shown = both.filter(~pl.col("suppressed") & ~pl.col("suppressed_after"))
            counts = [f.name for f in ds.by_role("measure") if f.type == "integer"]
            if not counts:
                continue
            moved = (pl.col(f"{counts[0]}_after") - pl.col(counts[0])).abs()
            changed = shown.filter(moved > 0)
            # k payers who moved a cell added at least k of its transactions.
            assert changed.filter(moved < ds.privacy.k).height == 0, (ds.id, changed.head())
            revised += changed.height
    assert compared > 0
    assert revised > 0, "no published cell was revised: the rule was not put to the test"


def test_the_attacker_recovers_nothing_from_every_version(
    cycles: tuple[Settings, list[str]],
) -> None:
    settings, _ = cycles
    values = attack_release(settings.datasets_dir, load_catalog(settings.catalog_path))
    assert values.height > 0
    assert values.get_column("version").n_unique() > 1
    recovered = Attack(values, 0.0, 0, 0).certainly_recovered()
    assert recovered.height == 0, recovered.head()


def test_what_a_publish_keeps_for_the_next_changes_nothing_it_publishes(
    cycles: tuple[Settings, list[str]],
) -> None:
    """A publish keeps the store's row counts per part and month (``periods``) and each
    closed year's first quarters of payers (``firsts``) so as not to read history again;
    the last cycle's publish, done again from the same store with nothing kept, must
    publish the same bytes."""
    settings, _ = cycles
    again = settings.model_copy(
        update={
            "var_dir": _before_last(settings) / "var",
            "datasets_dir": _before_last(settings) / "datasets",
        }
    )
    kept = again.var_dir / "publish"
    # The premise: the last publish had counts and a closed year's first quarters to use.
    assert (kept / "periods.parquet").is_file()
    assert list((kept / "firsts").glob("2012-*.parquet"))
    (kept / "periods.parquet").unlink()
    shutil.rmtree(kept / "firsts")
    bawaba(again, "publish")
    current = versions.read_release(settings.datasets_dir)
    recomputed = versions.read_release(again.datasets_dir)
    assert current is not None
    assert recomputed is not None
    assert current.datasets == recomputed.datasets
    for dataset, version in current.datasets.items():
        for name in (versions.DATA, "changes.json"):
            made = settings.datasets_dir / dataset / version / name
            remade = again.datasets_dir / dataset / version / name
            assert made.read_bytes() == remade.read_bytes(), (dataset, name)


def test_a_published_cell_is_never_taken_away_by_a_later_version(
    cycles: tuple[Settings, list[str]],
) -> None:
    settings, _ = cycles
    gone: dict[str, int] = {}
    for ds in load_catalog(settings.catalog_path).datasets:
        if ds.privacy is None:
            continue
        keys = [f.name for f in ds.by_role("time", "dimension")]
        for before, after in pairwise(_versions(settings, ds.id)):
            lost = before.join(after, on=keys, how="anti", nulls_equal=True).height
            gone[ds.id] = gone.get(ds.id, 0) + lost
    assert sum(gone.values()) == 0, gone
