"""The hour of the week, end to end: simulated, ingested, published, gated.

At scale 0.01 every premium table is withheld (too many sensitive cells), so this module
simulates the three largest departments for 2013 at scale 0.1, where ``epay-hourly-profile``
is published with all 168 hours. The hours are recomputed here in plain Python from the
analytic store (``date.isoweekday``, not Polars), and the gate is shown to refuse the
Int8 overflow that once published Friday 08:00 to Saturday as -128...-89.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bawaba.core import versions
from bawaba.ingest.store import scan_store
from bawaba.loopback import serve_in_thread
from bawaba.publish import publisher
from bawaba.publish.coordinates import with_time
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, random_key
from test_publish import bawaba, current_file

DEPARTMENTS = ("DEWA", "RTA", "DP")
HOURLY = "epay-hourly-profile"
FRIDAY, SATURDAY = range(120, 144), range(144, 168)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("busy")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.1,
        pseudonym_key=random_key(),  # type: ignore[arg-type]
    )
    only = [arg for code in DEPARTMENTS for arg in ("--department", code)]
    bawaba(settings, "simulate", "--year", "2013", *only)
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        served = settings.model_copy(update={"departments_api_url": url})
        bawaba(served, "pipelines", "run", *DEPARTMENTS)
    bawaba(settings, "publish")
    return settings


@pytest.fixture
def busy_copy(busy: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(busy.var_dir, tmp_path / "var")
    shutil.copytree(busy.datasets_dir, tmp_path / "datasets", ignore_dangling_symlinks=True)
    return busy.model_copy(
        update={"var_dir": tmp_path / "var", "datasets_dir": tmp_path / "datasets"}
    )


def hour_of_week(day: date, hour: int) -> int:
    """0 = Sunday 00:00: the UAE week of 2012-2013 began on Sunday."""
    return day.isoweekday() % 7 * 24 + hour


def test_every_hour_of_the_week_is_published_within_0_to_167(busy: Settings) -> None:
    hours = pl.read_parquet(current_file(busy, HOURLY))["hour_of_week"].to_list()
    assert hours, "the hourly profile is published at this scale"
    assert all(0 <= h <= 167 for h in hours)
    assert set(hours) == set(range(168))
    assert any(h in FRIDAY for h in hours)
    assert any(h in SATURDAY for h in hours)


def test_each_published_hour_counts_the_payments_made_in_it(busy: Settings) -> None:
    epay = (
        scan_store(busy)
        .filter(
            (pl.col("record_type") == "payment")
            & (pl.col("status") == "success")
            & pl.col("electronic")
        )
        .select("txn_date", "txn_hour", "department")
        .collect()
    )
    expected = Counter((d.year, hour_of_week(d, h), dept) for d, h, dept in epay.iter_rows())
    published = pl.read_parquet(current_file(busy, HOURLY))
    cells = {
        (r["year"], r["hour_of_week"], r["department"]): r for r in published.iter_rows(named=True)
    }
    assert set(cells) == set(expected)
    shown = [k for k, r in cells.items() if not r["suppressed"]]
    assert any(k[1] in FRIDAY for k in shown)
    assert any(k[1] in SATURDAY for k in shown)
    for key in shown:
        assert cells[key]["transactions"] == expected[key], key


def test_the_gate_report_names_the_range_rule(busy: Settings) -> None:
    release = versions.read_release(busy.datasets_dir)
    assert release is not None
    folder = busy.datasets_dir / HOURLY / release.datasets[HOURLY]
    report = json.loads((folder / versions.GATE_REPORT).read_text())
    assert report["passed"] is True
    assert report["rules"][:2] == ["declared-columns", "declared-ranges"]


def test_the_gate_refuses_wrapped_hours_and_the_release_stays(
    busy_copy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Put the Int8 overflow back on purpose: the gate's range rule must refuse it."""

    def overflowing(rows: pl.DataFrame) -> pl.DataFrame:
        day = pl.col("txn_date")
        wrapped = ((day.dt.weekday() % 7) * 24 + pl.col("txn_hour")).cast(pl.Int16())
        return with_time(rows).with_columns(wrapped.alias("hour_of_week"))

    monkeypatch.setattr(publisher, "with_time", overflowing)
    before = (busy_copy.datasets_dir / versions.CURRENT).read_bytes()
    with pytest.raises(publisher.GateFailed) as failed:
        publisher.publish(busy_copy)
    message = str(failed.value)
    assert f"{HOURLY}.hour_of_week" in message
    assert "outside the declared range 0–167 [declared-ranges]" in message
    assert (busy_copy.datasets_dir / versions.CURRENT).read_bytes() == before
    report = json.loads(max((busy_copy.var_dir / "publish").glob("*.json")).read_text())
    [hourly] = [g for g in report["gate"] if g["dataset"] == HOURLY]
    [finding] = hourly["findings"]
    assert finding["where"] == f"{HOURLY}.hour_of_week"
    assert "-128" not in json.dumps(report), "a gate report never holds a value"
