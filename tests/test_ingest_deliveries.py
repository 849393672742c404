"""Deliveries that cannot be read whole, through the command line (issue 13).

A broken file is quarantined whole with a reason naming it (and the line, where there is
one); the department's other files still go on, the run still adds up, and a corrected
delivery of the broken file is read as new.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from fastapi import FastAPI, Response

from bawaba.ingest.store import read_state, scan_store
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import env_for
from test_ingest_cli import BAWABA, last_report, run

pytest_plugins = ["test_ingest_cli"]


def _rows(path: Path) -> int:
    """Data rows of a landed file, counted without the pipeline's readers."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path).height
    if path.suffix == ".jsonl":
        return sum(1 for line in path.read_bytes().splitlines() if line.strip())
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _cut_last_line(path: Path) -> tuple[int | None, int]:
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 12])
    return data.rstrip(b"\n").count(b"\n") + 1, _rows_before_last(data)


def _rows_before_last(data: bytes) -> int:
    return data.rstrip(b"\n").count(b"\n") - 1


def _bad_encoding(path: Path) -> tuple[int | None, int]:
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",", b",\xff", 1)
    path.write_bytes(b"\n".join(lines))
    return 4, 2


def _malformed_json_line(path: Path) -> tuple[int | None, int]:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4][:20] + b"\n"
    path.write_bytes(b"".join(lines))
    return 5, len(lines) - 1


def _truncated_parquet(path: Path) -> tuple[int | None, int]:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return None, 0


def _manifest_disagrees(path: Path) -> tuple[int | None, int]:
    rows = _rows(path)
    path.with_name(path.name + ".manifest.json").write_text(json.dumps({"rows": rows + 1}))
    return None, rows


Damage = Callable[[Path], tuple[int | None, int]]
"""Breaks a file in place; returns the line the reason must name and the rows counted."""


@pytest.mark.parametrize(
    ("department", "damage", "words"),
    [
        ("CDA", _cut_last_line, "is cut short"),
        ("CDA", _bad_encoding, "is not UTF-8 text"),
        ("DED", _malformed_json_line, "is not valid JSON"),
        ("DAFZA", _truncated_parquet, "is not a whole Parquet file"),
        ("CDA", _manifest_disagrees, "rows where its manifest"),
    ],
)
def test_a_broken_file_is_quarantined_whole_and_the_others_go_on(
    workspace_copy: Settings, department: str, damage: Damage, words: str
) -> None:
    settings = workspace_copy
    files = sorted((settings.landing_dir / department).glob(f"{department}_*"))
    victim, others = files[1], [files[0], *files[2:]]
    original = victim.read_bytes()
    line, counted = damage(victim)
    damaged = victim.read_bytes()

    done = run(settings, department)
    report = last_report(settings)
    got = report["departments"][0]  # type: ignore[index]
    assert got["error"] is None
    assert got["files"] == len(files)
    [broken] = got["broken_files"]
    assert broken["file"] == victim.name
    assert broken["line"] == line
    assert victim.name in broken["message"]
    assert words in broken["message"]
    if line is not None:
        assert f"line {line}" in broken["message"]
    assert broken["rows"] == counted
    assert f"{department}: quarantined whole, {counted:,} rows: {broken['message']}" in done.stdout
    # The other files went on, and the run adds up with the broken file's rows in it.
    assert got["raw"] == sum(_rows(p) for p in others) + counted
    assert got["accepted"] > 0
    assert got["raw"] == got["accepted"] + got["quarantined"] + got["duplicates"]
    assert got["reasons"].get("unreadable_file", 0) == counted
    quarantine = settings.quarantine_dir / str(report["run_id"])
    assert (quarantine / department / victim.name).read_bytes() == damaged
    listed = json.loads((quarantine / f"{department}.files.json").read_text())
    assert listed == [broken]
    ledger = read_state(settings).ledger[department]
    assert {name for name, e in ledger.items() if e.quarantined} == {victim.name}

    # Not quarantined twice: the broken file stays as it was, so nothing is new.
    assert "nothing new" in run(settings, department).stdout
    # The corrected delivery, under the same name, is read as a new file.
    victim.with_name(victim.name + ".manifest.json").unlink(missing_ok=True)
    victim.write_bytes(original)
    run(settings, department)
    again = last_report(settings)["departments"][0]  # type: ignore[index]
    assert again["error"] is None
    assert again["broken_files"] == []
    assert again["raw"] == _rows(victim)
    assert not read_state(settings).ledger[department][victim.name].quarantined


def test_a_manifest_that_agrees_lets_its_file_in(workspace_copy: Settings) -> None:
    settings = workspace_copy
    files = sorted((settings.landing_dir / "CDA").glob("CDA_*.csv"))
    for path in files:
        path.with_name(path.name + ".manifest.json").write_text(json.dumps({"rows": _rows(path)}))
    run(settings, "CDA")
    got = last_report(settings)["departments"][0]  # type: ignore[index]
    assert got["broken_files"] == []
    assert got["raw"] == sum(_rows(p) for p in files)


def _tampered(upstream: str) -> FastAPI:
    """The simulator's export API, but its first page carries two records that are not
    JSON objects."""
    app = FastAPI()

    @app.get("/departments/{department}/records")
    def read_records(department: str, after: int = 0, limit: int = 5000) -> Response:
        answer = httpx.get(
            f"{upstream}/departments/{department}/records",
            params={"after": after, "limit": limit},
            timeout=30,
        )
        body = answer.content
        if after == 0:
            body = body.replace(b'{"records":[', b'{"records":["not a record",[1,2],', 1)
        return Response(body, media_type="application/json")

    return app


@pytest.fixture
def tampered_api(workspace_copy: Settings) -> Iterator[Settings]:
    with (
        serve_in_thread(create_app(workspace_copy.systems_dir)) as upstream,
        serve_in_thread(_tampered(upstream)) as url,
    ):
        yield workspace_copy.model_copy(update={"departments_api_url": url})


def test_a_bad_http_record_is_quarantined_not_fatal(tampered_api: Settings) -> None:
    settings = tampered_api
    run(settings, "DLD")
    report = last_report(settings)
    got = report["departments"][0]  # type: ignore[index]
    truth = json.loads((settings.systems_dir / "truth.json").read_text())["departments"]["DLD"]
    assert got["error"] is None
    assert got["raw"] == truth["rows"] + 2
    assert got["reasons"]["not_an_object"] == 2
    assert got["raw"] == got["accepted"] + got["quarantined"] + got["duplicates"]
    quarantined = pl.read_parquet(settings.quarantine_dir / str(report["run_id"]) / "DLD.parquet")
    bad = quarantined.filter(pl.col("_reason") == "not_an_object")
    assert sorted(bad["_record"]) == ['"not a record"', "[1,2]"]


def test_an_uncommitted_runs_quarantine_is_removed_at_the_next_run(
    workspace_copy: Settings,
) -> None:
    settings = workspace_copy
    victim = sorted((settings.landing_dir / "CDA").glob("CDA_*.csv"))[0]
    _cut_last_line(victim)
    run(settings, "CDA")
    committed = {r.run_id for r in read_state(settings).runs}
    [folder] = list(settings.quarantine_dir.iterdir())
    # A run killed during its commit: its quarantine moved into place, its manifest not.
    orphan = settings.quarantine_dir / "20260101T000000000000Z"
    shutil.copytree(folder, orphan)
    run(settings, "CDA")
    assert not orphan.exists()
    assert {p.name for p in settings.quarantine_dir.iterdir()} == committed


def test_a_killed_commit_quarantines_nothing_twice(workspace_copy: Settings) -> None:
    """The rerun of a killed run quarantines its rows once, under its own run."""
    settings = workspace_copy
    victim = sorted((settings.landing_dir / "DP").glob("DP_*.csv"))[0]
    _cut_last_line(victim)
    # As a commit killed after its quarantine moved: the quarantine of a run the manifest
    # does not know, and nothing else.
    run(settings, "DP")
    state_file = settings.store_dir / "manifest.json"
    [folder] = list(settings.quarantine_dir.iterdir())
    state_file.unlink()
    run(settings, "DP")
    [again] = list(settings.quarantine_dir.iterdir())
    assert again != folder
    counted = last_report(settings)["departments"][0]  # type: ignore[index]
    rows = pl.read_parquet(again / "DP.parquet").height
    assert rows > 0, "DP has dirty rows: the count is not vacuous"
    assert rows == counted["quarantined"] - counted["reasons"]["unreadable_file"]
    assert len(list(again.rglob(victim.name))) == 1


def correct(path: Path, amount: str) -> None:
    """A corrected delivery: one amount changed, the last row withdrawn."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("المبلغ")] = amount
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows[:-1])


def _store_rows(settings: Settings) -> pl.DataFrame:
    """The stored rows without payer ids, which depend on the order they were drawn in."""
    rows = scan_store(settings, ["CDA"]).drop("payer_id").collect()
    return rows.sort(rows.columns)


def test_a_corrected_redelivery_replaces_the_files_rows(
    workspace_copy: Settings, tmp_path: Path
) -> None:
    settings = workspace_copy
    fresh = settings.model_copy(update={"var_dir": tmp_path / "fresh"})
    shutil.copytree(settings.var_dir, fresh.var_dir)
    files = sorted((settings.landing_dir / "CDA").glob("CDA_*.csv"))
    run(settings, "CDA")
    first = last_report(settings)["departments"][0]  # type: ignore[index]
    ledger = read_state(settings).ledger["CDA"]

    # Two corrections in turn, the second to a file whose rows the first moved.
    for index, amount in ((0, "7.00"), (1, "9.00")):
        correct(files[index], amount)
        correct(fresh.landing_dir / "CDA" / files[index].name, amount)
        done = run(settings, "CDA")
        got = last_report(settings)["departments"][0]  # type: ignore[index]
        assert got["error"] is None, done.stdout
        assert got["files"] == 1
        assert got["revised"] == [
            {"file": files[index].name, "replaced_rows": ledger[files[index].name].rows}
        ]
        assert got["raw"] == _rows(files[index])
        assert got["raw"] == got["accepted"] + got["quarantined"] + got["duplicates"]
        ledger = read_state(settings).ledger["CDA"]
        assert ledger[files[index].name].rows == got["accepted"]
        assert f"CDA: {files[index].name} is a revision" in done.stdout

    run(fresh, "CDA")
    assert first["accepted"] > 0
    assert _store_rows(settings).equals(_store_rows(fresh))
    assert _store_rows(settings).height < first["accepted"]


def test_a_broken_revision_keeps_the_earlier_rows_until_corrected(
    workspace_copy: Settings, tmp_path: Path
) -> None:
    settings = workspace_copy
    fresh = settings.model_copy(update={"var_dir": tmp_path / "fresh"})
    shutil.copytree(settings.var_dir, fresh.var_dir)
    victim = sorted((settings.landing_dir / "CDA").glob("CDA_*.csv"))[1]
    run(settings, "CDA")
    before = _store_rows(settings)

    correct(victim, "7.00")
    corrected = victim.read_bytes()
    _cut_last_line(victim)
    run(settings, "CDA")
    got = last_report(settings)["departments"][0]  # type: ignore[index]
    assert got["revised"] == []
    assert [b["file"] for b in got["broken_files"]] == [victim.name]
    assert _store_rows(settings).equals(before)

    victim.write_bytes(corrected)
    run(settings, "CDA")
    got = last_report(settings)["departments"][0]  # type: ignore[index]
    assert [r["file"] for r in got["revised"]] == [victim.name]
    correct(fresh.landing_dir / "CDA" / victim.name, "7.00")
    run(fresh, "CDA")
    assert _store_rows(settings).equals(_store_rows(fresh))
    assert not _store_rows(settings).equals(before)


def test_a_corrected_file_among_late_records_replaces_only_its_own_rows(
    simulated: Settings, tmp_path: Path
) -> None:
    """Late records (``DP_2012-01-late.csv``, read before ``DP_2012-01.csv``) put files'
    rows out of time order: the rows a revision replaces are still exactly its file's."""
    settings = simulated.model_copy(update={"var_dir": tmp_path / "monthly"})
    simulate = [BAWABA, "simulate", "--through", "2012-03", "--department", "DP"]
    subprocess.run(simulate, env=env_for(settings), check=True, capture_output=True, timeout=300)
    files = sorted((settings.landing_dir / "DP").glob("DP_*.csv"))
    assert [p.name for p in files][:2] == ["DP_2012-01-late.csv", "DP_2012-01.csv"]
    assert _rows(files[0]) > 0, "the late file holds rows: the order is not vacuous"
    fresh = settings.model_copy(update={"var_dir": tmp_path / "fresh"})
    shutil.copytree(settings.var_dir, fresh.var_dir)

    run(settings, "DP")
    victim = "DP_2012-02.csv"
    for var in (settings, fresh):
        correct(var.landing_dir / "DP" / victim, "7.00")
    run(settings, "DP")
    assert [r["file"] for r in last_report(settings)["departments"][0]["revised"]] == [victim]  # type: ignore[index]
    run(fresh, "DP")

    def stored(var: Settings) -> pl.DataFrame:
        rows = scan_store(var, ["DP"]).drop("payer_id").collect()
        return rows.sort(rows.columns)

    assert stored(settings).equals(stored(fresh))
