"""Ingestion through the command line, against simulated departments (scale 0.01).

Raw rows = accepted + quarantined + duplicates for every department, as the simulator's
truth says; a killed run leaves no partial output; a re-run on unchanged sources changes
nothing; HTTP departments resume from their watermark.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from bawaba.ingest.store import read_state, scan_store
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, env_for, random_key
from processes import kill_when

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
DIRTY_KINDS = ("missing_field", "bad_timestamp", "negative_amount", "unknown_service")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One simulation at scale 0.01, copied by each test that changes it."""
    root = tmp_path_factory.mktemp("simulated")
    settings = Settings(
        var_dir=root / "var",
        pipelines_dir=ROOT / "pipelines",
        scale=0.01,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    subprocess.run(
        [BAWABA, "simulate"], env=env_for(settings), check=True, capture_output=True, timeout=300
    )
    return settings


@pytest.fixture
def workspace_copy(simulated: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(simulated.var_dir, tmp_path / "var")
    return simulated.model_copy(update={"var_dir": tmp_path / "var"})


@pytest.fixture
def departments_api(workspace_copy: Settings) -> Iterator[Settings]:
    with serve_in_thread(create_app(workspace_copy.systems_dir)) as url:
        yield workspace_copy.model_copy(update={"departments_api_url": url})


def run(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BAWABA, "pipelines", "run", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def last_report(settings: Settings) -> dict[str, object]:
    newest = max(settings.runs_dir.glob("*.json"))
    report: dict[str, object] = json.loads(newest.read_text())
    return report


def tree_digest(*folders: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        if folder.exists()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_every_department_balances_against_the_simulators_truth(
    departments_api: Settings,
) -> None:
    settings = departments_api
    run(settings)
    truth = json.loads((settings.systems_dir / "truth.json").read_text())["departments"]
    results = {d["department"]: d for d in last_report(settings)["departments"]}  # type: ignore[attr-defined]
    assert set(results) == set(truth)
    for code, expected in truth.items():
        got = results[code]
        assert got["error"] is None, code
        assert got["raw"] == expected["rows"], code
        assert got["raw"] == got["accepted"] + got["quarantined"] + got["duplicates"], code
        assert got["duplicates"] == expected["dirty"].get("duplicate", 0), code
        injected = {k: expected["dirty"].get(k, 0) for k in DIRTY_KINDS}
        assert got["reasons"] == {k: n for k, n in injected.items() if n}, code
    # Dirty rows were injected and caught: the balance is not vacuous.
    assert sum(r["quarantined"] for r in results.values()) > 0
    assert sum(r["duplicates"] for r in results.values()) > 0
    quarantined = pl.read_parquet(next(settings.quarantine_dir.glob("*/DP.parquet")))
    assert set(quarantined["_reason"]) == {k for k in DIRTY_KINDS if truth["DP"]["dirty"].get(k)}


def test_rerun_on_unchanged_sources_changes_nothing(departments_api: Settings) -> None:
    settings = departments_api
    run(settings)
    before = tree_digest(settings.store_dir, settings.var_dir / "pseudonyms")
    done = run(settings)
    assert "nothing new" in done.stdout
    assert tree_digest(settings.store_dir, settings.var_dir / "pseudonyms") == before
    assert last_report(settings)["committed"] is False


KILL_POINTS: dict[str, Callable[[Path], bool]] = {
    # A department's delivery is being pulled into the run's staging.
    "pulling": lambda staging: any(staging.glob("*/landing/*/*")),
    # A department's accepted rows are written as a part, not yet committed.
    "staged": lambda staging: any(staging.glob("*/parts/*.parquet")),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_run_leaves_no_partial_output(departments_api: Settings, point: str) -> None:
    settings = departments_api
    process = subprocess.Popen(
        [BAWABA, "pipelines", "run"],
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_when(process, lambda: KILL_POINTS[point](settings.store_dir / ".staging"))
    # Killed before the commit: the store holds nothing of the run.
    assert read_state(settings).runs == []
    assert scan_store(settings).collect().height == 0
    # And finishing the job gives what one uninterrupted run gives.
    run(settings)
    finished = scan_store(settings).collect()
    truth = json.loads((settings.systems_dir / "truth.json").read_text())["departments"]
    expected = sum(t["rows"] - sum(t["dirty"].values()) for t in truth.values())
    assert finished.height == expected
    # A quarantine moved into place by a commit the kill cut short is gone: rows once.
    committed = {r.run_id for r in read_state(settings).runs}
    assert {p.name for p in settings.quarantine_dir.iterdir()} <= committed
    assert not (settings.store_dir / ".staging").exists() or not any(
        (settings.store_dir / ".staging").iterdir()
    )


def test_http_departments_resume_from_their_watermark(workspace_copy: Settings) -> None:
    settings = workspace_copy
    with serve_in_thread(create_app(settings.systems_dir, visible_until="2013-01-01")) as url:
        run(settings.model_copy(update={"departments_api_url": url}), "DLD")
    first = {d["department"]: d for d in last_report(settings)["departments"]}["DLD"]  # type: ignore[attr-defined]
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        run(settings.model_copy(update={"departments_api_url": url}), "DLD")
    second = {d["department"]: d for d in last_report(settings)["departments"]}["DLD"]  # type: ignore[attr-defined]
    truth = json.loads((settings.systems_dir / "truth.json").read_text())["departments"]["DLD"]
    assert 0 < first["raw"] < truth["rows"]
    assert first["raw"] + second["raw"] == truth["rows"], "nothing lost, nothing twice"
    assert second["watermark"] > first["watermark"]
    years = scan_store(settings).select(pl.col("txn_date").dt.year().unique()).collect()
    assert set(years.to_series()) == {2012, 2013}


def _edit_csv(path: Path, edit: object) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    rows = edit(rows)  # type: ignore[operator]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_schema_drift_fails_one_department_and_commits_the_others(
    workspace_copy: Settings,
) -> None:
    settings = workspace_copy
    victim = sorted((settings.landing_dir / "PP").glob("*.csv"))[0]
    column = "رمز الخدمة"
    _edit_csv(
        victim,
        lambda rows: [r[: rows[0].index(column)] + r[rows[0].index(column) + 1 :] for r in rows],
    )
    done = run(settings, "PP", "DC", check=False)
    assert done.returncode == 1
    report = {d["department"]: d for d in last_report(settings)["departments"]}  # type: ignore[attr-defined]
    assert column in report["PP"]["error"]
    assert "failed at step 'read'" in report["PP"]["error"]
    assert report["DC"]["error"] is None
    assert set(read_state(settings).parts) == {"DC"}


def test_personal_data_in_a_coded_field_is_quarantined(workspace_copy: Settings) -> None:
    settings = workspace_copy
    victim = sorted((settings.landing_dir / "CDA").glob("*.csv"))[0]
    smuggled = "784-1990-1234567-4"

    def smuggle(rows: list[list[str]]) -> list[list[str]]:
        rows[1][rows[0].index("القناة")] = smuggled
        return rows

    _edit_csv(victim, smuggle)
    run(settings, "CDA")
    report = last_report(settings)["departments"][0]  # type: ignore[index]
    assert report["reasons"] == {"unknown_code": 1}
    stored = scan_store(settings).collect()
    assert not any(smuggled in str(v) for c in stored.columns for v in stored[c].unique())


def test_an_unknown_department_is_named_with_the_valid_ones(workspace_copy: Settings) -> None:
    done = run(workspace_copy, "NOPE", check=False)
    assert done.returncode == 2
    assert "no pipeline for NOPE" in done.stderr
    assert "DEWA" in done.stderr
