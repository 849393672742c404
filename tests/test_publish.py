"""Publishing end to end (scale 0.01): calibrated figures, privacy of every published byte,
atomic and idempotent releases, and the gate failing closed."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
import yaml

from bawaba.catalog import Catalog
from bawaba.catalog.load import load_catalog
from bawaba.core import versions
from bawaba.fsutil import sha256_file
from bawaba.ingest.store import scan_store
from bawaba.loopback import serve_in_thread
from bawaba.privacy.detect import contains_pii
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, env_for, random_key
from processes import kill_when

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")


def bawaba(
    settings: Settings,
    *args: str,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BAWABA, *args], env=env_for(settings), capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("published")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.01,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    bawaba(settings, "simulate")
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        bawaba(settings.model_copy(update={"departments_api_url": url}), "pipelines", "run")
    bawaba(settings, "publish")
    return settings


@pytest.fixture
def copy_of(published: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(published.var_dir, tmp_path / "var")
    shutil.copytree(published.datasets_dir, tmp_path / "datasets", ignore_dangling_symlinks=True)
    return published.model_copy(
        update={"var_dir": tmp_path / "var", "datasets_dir": tmp_path / "datasets"}
    )


def test_a_publish_over_an_empty_store_says_so_and_publishes_nothing(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path / "var",
        datasets_dir=tmp_path / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    done = bawaba(settings, "publish", check=False)
    assert done.returncode == 2, done.stderr
    assert "error [empty-store]" in done.stderr
    assert "holds no rows" in done.stderr
    assert "bawaba pipelines run" in done.stderr
    assert versions.read_release(settings.datasets_dir) is None


def current_file(settings: Settings, dataset: str) -> Path:
    release = versions.read_release(settings.datasets_dir)
    assert release is not None
    return settings.datasets_dir / dataset / release.datasets[dataset] / versions.DATA


def query(sql: str, path: Path) -> list[tuple[object, ...]]:
    return duckdb.sql(sql.replace("$data", f"read_parquet('{path}')")).fetchall()


def truth(settings: Settings) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((settings.systems_dir / "truth.json").read_text())
    return loaded


def test_epay_annual_reproduces_the_calibrated_totals(published: Settings) -> None:
    rows = query(
        "select year, sum(transactions), sum(amount_aed), count(*) filter "
        "(where suppressed) from $data group by year order by year",
        current_file(published, "epay-annual"),
    )
    totals = truth(published)["totals"]
    for year, transactions, amount, suppressed in rows:
        expected = totals[str(year)]  # type: ignore[index]
        assert suppressed == 0, "big cells are never suppressed"
        assert transactions == expected["e_success"]
        assert float(amount) == pytest.approx(expected["e_success_value_aed"], abs=0.005)
    # And the store holds what the calibration targets at this scale.
    assert [r[1] for r in rows] == [round(3_318_572 * 0.01), round(4_547_829 * 0.01)]


def test_eservice_adoption_shows_the_calibrated_rates(published: Settings) -> None:
    rows = query(
        "select department, sum(electronic_transactions), sum(counter_transactions) "
        "from $data group by department",
        current_file(published, "eservice-adoption"),
    )
    adoption = {d: e / (e + c) for d, e, c in rows}
    for leader in ("RTA", "DEWA", "DP"):
        assert adoption[leader] > 0.90, leader
    others = [a for d, a in adoption.items() if d not in ("RTA", "DEWA", "DP")]
    assert 0.55 <= sum(others) / len(others) <= 0.65
    electronic = sum(r[1] for r in rows)
    assert 0.77 <= electronic / sum(r[1] + r[2] for r in rows) <= 0.83


def test_every_published_cell_counts_at_least_k_payers(published: Settings) -> None:
    release = versions.read_release(published.datasets_dir)
    assert release is not None
    catalog = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    k_of = {d["id"]: d["privacy"]["k"] for d in catalog["datasets"] if d.get("privacy")}
    measures_of = {
        d["id"]: [f["name"] for f in d["fields"] if f["role"] == "measure"]
        for d in catalog["datasets"]
    }
    checked = 0
    for dataset in release.datasets:
        if dataset not in k_of:
            continue
        path = current_file(published, dataset)
        shown = " or ".join(f"{m} is not null" for m in measures_of[dataset])
        (leaks,) = query(f"select count(*) from $data where suppressed and ({shown})", path)[0]
        assert leaks == 0, f"{dataset}: a suppressed cell shows a measure"
        if "payers" in measures_of[dataset]:
            (under,) = query(
                f"select count(*) from $data where not suppressed and payers < {k_of[dataset]}",
                path,
            )[0]
            assert under == 0, dataset
            checked += 1
    assert checked >= 2
    # Recounted independently from the analytic store for the headline table.
    recount = (
        scan_store(published)
        .filter(
            (pl.col("record_type") == "payment")
            & (pl.col("status") == "success")
            & pl.col("electronic")
        )
        .group_by(pl.col("txn_date").dt.year().cast(pl.Int64).alias("year"), "department")
        .agg(pl.col("payer_id").n_unique().alias("payers"))
        .collect()
    )
    published_payers = {
        (y, d): p
        for y, d, p in query(
            "select year, department, payers from $data", current_file(published, "epay-annual")
        )
    }
    assert {(r["year"], r["department"]): r["payers"] for r in recount.to_dicts()} == (
        published_payers
    )


def _raw_identifiers(settings: Settings, limit: int = 300) -> list[str]:
    """Identifier values straight from a department's raw export."""
    path = sorted((settings.landing_dir / "DP").glob("*.csv"))[0]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    fields = ("رقم الهوية", "الهاتف المتحرك", "البريد الإلكتروني", "رقم البطاقة", "اسم المتعامل")
    return [r[f] for r in rows for f in fields if r.get(f)]


def test_no_personal_data_in_any_published_byte(published: Settings) -> None:
    identifiers = _raw_identifiers(published)
    assert len(identifiers) > 100
    texts: list[str] = []
    for path in sorted(published.datasets_dir.rglob("*")):
        if path.suffix == ".parquet":
            rows = duckdb.sql(f"select * from read_parquet('{path}')").fetchall()
            texts += [str(v) for row in rows for v in row if isinstance(v, str)]
            texts.append(path.name)
        elif path.suffix == ".json":
            texts.append(path.read_text(encoding="utf-8"))
    assert not [t for t in texts if contains_pii(t)]
    everything = "\n".join(texts)
    assert not [i for i in identifiers if i in everything]


def test_every_release_file_is_readable_by_everyone(published: Settings) -> None:
    """A server running as another user than the publisher must be able to read it all."""
    files = [p for p in published.datasets_dir.rglob("*") if p.is_file() and p.name != ".lock"]
    assert published.datasets_dir / versions.CURRENT in files
    assert {p.name for p in files} >= {versions.DATA, versions.MANIFEST, versions.GATE_REPORT}
    unreadable = [p for p in files if p.stat().st_mode & 0o444 != 0o444]
    assert unreadable == []


def test_publishing_the_same_input_again_changes_nothing(copy_of: Settings) -> None:
    before = {
        p: p.read_bytes()
        for p in copy_of.datasets_dir.rglob("*")
        if p.is_file() and p.name != ".lock"
    }
    done = bawaba(copy_of, "publish")
    assert "nothing changed" in done.stdout
    after = {
        p: p.read_bytes()
        for p in copy_of.datasets_dir.rglob("*")
        if p.is_file() and p.name != ".lock"
    }
    assert after == before


def _stricter_catalog(tmp: Path, k: int = 40) -> Path:
    catalog = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    for dataset in catalog["datasets"]:
        if dataset.get("privacy") and dataset["tier"] == "open":
            dataset["privacy"] = {**dataset["privacy"], "k": k}
    path = tmp / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    return path


def _assert_release_whole(settings: Settings) -> None:
    release = versions.read_release(settings.datasets_dir)
    assert release is not None
    for dataset, version in release.datasets.items():
        manifest = versions.read_manifest(settings.datasets_dir, dataset, version)
        for entry in manifest.files:
            path = settings.datasets_dir / dataset / version / entry.name
            assert sha256_file(path) == entry.sha256
        (count,) = query("select count(*) from $data", current_file(settings, dataset))[0]
        assert count == manifest.rows


def _versions(root: Path) -> set[Path]:
    return {p for p in root.glob("*/v*") if p.is_dir()}


KILL_POINTS: dict[str, Callable[[Path, set[Path]], bool]] = {
    # Datasets are being written and gated in the staging folder: nothing installed yet.
    "gating": lambda root, old: any((root / ".staging").glob("*/*/data.parquet")),
    # A new version folder is in place, but the release does not name it yet.
    "installing": lambda root, old: bool(_versions(root) - old),
}


def _catalog_of(tmp: Path, datasets: set[str]) -> Path:
    catalog = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    catalog["datasets"] = [d for d in catalog["datasets"] if d["id"] in datasets]
    path = tmp / "smaller-catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    return path


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_publish_leaves_a_whole_release_current(
    copy_of: Settings, tmp_path: Path, point: str
) -> None:
    # A release of one dataset; the publish that is killed adds the catalog's others.
    first = copy_of.model_copy(
        update={
            "datasets_dir": tmp_path / "released",
            "catalog_path": _catalog_of(tmp_path, {"epay-annual"}),
        }
    )
    bawaba(first, "publish")
    settings = first.model_copy(update={"catalog_path": copy_of.catalog_path})
    root = settings.datasets_dir
    before = versions.read_release(root)
    assert before is not None
    assert set(before.datasets) == {"epay-annual"}
    old = _versions(root)
    process = subprocess.Popen(
        [BAWABA, "publish"],
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_when(process, lambda: KILL_POINTS[point](root, old))
    _assert_release_whole(settings)
    assert versions.read_release(root) == before, "killed before the switch: the old release"
    if point == "installing":
        assert _versions(root) - old, "the kill left an installed version no release names"
    # The next publish finishes the job from whatever the kill left.
    bawaba(settings, "publish")
    _assert_release_whole(settings)
    finished = versions.read_release(root)
    assert finished is not None
    assert finished.release != before.release
    assert set(finished.datasets) > set(before.datasets)
    assert finished.datasets["epay-annual"] == before.datasets["epay-annual"]


def test_a_cell_hidden_in_one_version_stays_hidden_in_the_next(
    copy_of: Settings, tmp_path: Path
) -> None:
    # A stricter catalog hides more; going back to the shipped one would show those values
    # again, which a reader could match with what the stricter version left: they stay
    # hidden, and the publish is not refused for revealing them.
    stricter = copy_of.model_copy(update={"catalog_path": _stricter_catalog(tmp_path)})
    done = bawaba(stricter, "publish")
    # A table the stricter rule leaves too sparse is withheld, and the publish says why.
    withheld = [d for d in _last_publish_report(copy_of)["datasets"] if d["status"] == "withheld"]
    assert withheld
    for outcome in withheld:
        assert f"{outcome['dataset']} withheld: {outcome['note']}" in done.stdout
    catalog = load_catalog(copy_of.catalog_path)
    release = versions.read_release(copy_of.datasets_dir)
    assert release is not None
    hidden_before = {}
    for ds in catalog.datasets:
        if ds.privacy is None or ds.id not in release.datasets:
            continue
        keys = [f.name for f in ds.by_role("time", "dimension")]
        frame = pl.read_parquet(current_file(copy_of, ds.id))
        hidden_before[ds.id] = (keys, frame.filter(pl.col("suppressed")).select(keys))
    assert sum(h.height for _, h in hidden_before.values()) > 0
    bawaba(copy_of, "publish")
    for dataset, (keys, hidden) in hidden_before.items():
        now = pl.read_parquet(current_file(copy_of, dataset))
        shown = hidden.join(now.filter(~pl.col("suppressed")), on=keys, how="inner")
        assert shown.height == 0, (dataset, shown.head())


def test_the_gate_refuses_personal_data_in_catalog_text(copy_of: Settings, tmp_path: Path) -> None:
    catalog = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    catalog["datasets"][0]["description"]["en"] += " Questions: call 050 123 4567."
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    before = (copy_of.datasets_dir / versions.CURRENT).read_bytes()
    done = bawaba(copy_of.model_copy(update={"catalog_path": path}), "publish", check=False)
    assert done.returncode == 2
    assert "gate-failed" in done.stderr
    assert "pii-scan" in done.stderr
    assert "050 123 4567" not in done.stderr + done.stdout, "a gate never echoes a value"
    assert (copy_of.datasets_dir / versions.CURRENT).read_bytes() == before


def test_a_late_record_waits_until_it_would_not_single_anyone_out(copy_of: Settings) -> None:
    late = copy_of.landing_dir / "RTA" / "RTA_2012-03-late.jsonl"
    first = (copy_of.landing_dir / "RTA" / "RTA_2012-03.jsonl").read_text().splitlines()[0]
    record = json.loads(first)
    record["paymentRef"] = "RTA-LATE-1"
    late.write_text(json.dumps(record, ensure_ascii=False) + "\n")
    bawaba(copy_of, "pipelines", "run", "RTA")
    before = (copy_of.datasets_dir / versions.CURRENT).read_bytes()
    done = bawaba(copy_of, "publish")
    assert "nothing changed" in done.stdout
    assert (copy_of.datasets_dir / versions.CURRENT).read_bytes() == before
    report = json.loads(max((copy_of.var_dir / "publish").glob("*.json")).read_text())
    assert report["held_back_months"] == [201203]
    assert "held back: the late rows of 2012-03 would move some cell by fewer than k" in done.stdout


def test_the_gate_catches_a_late_record_that_was_not_held_back(
    copy_of: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Break the hold-back on purpose: the gate's revision rule must still refuse."""
    from bawaba.errors import BawabaError
    from bawaba.publish import publisher, revisions

    late = copy_of.landing_dir / "RTA" / "RTA_2012-03-late.jsonl"
    record = json.loads(
        (copy_of.landing_dir / "RTA" / "RTA_2012-03.jsonl").read_text().splitlines()[0]
    )
    record["paymentRef"] = "RTA-LATE-2"
    late.write_text(json.dumps(record, ensure_ascii=False) + "\n")
    bawaba(copy_of, "pipelines", "run", "RTA")
    real = revisions.split_late_rows

    def nothing_held(
        rows: pl.LazyFrame,
        counts: pl.DataFrame,
        catalog: Catalog,
        published: revisions.Published | None,
        read: revisions.ReadParts,
    ) -> revisions.Split:
        split = real(rows, counts, catalog, published, read)
        live = counts.filter(pl.col(revisions.RETRACTED_BY).is_null())
        return dataclasses.replace(split, kept=rows, counts=live, held=[])

    monkeypatch.setattr(revisions, "split_late_rows", nothing_held)
    with pytest.raises(BawabaError, match="revision"):
        publisher.publish(copy_of)


def test_the_gate_catches_a_cell_that_suppression_missed(
    copy_of: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Break disclosure control on purpose (nothing suppressed, a passing audit): the
    gate's threshold rule, which counts payers per cell on its own, must still refuse."""
    from bawaba.disclosure import AuditReport, AuditTable
    from bawaba.errors import BawabaError
    from bawaba.publish import publisher, release

    def nothing_hidden(
        tables: list[AuditTable], **_: object
    ) -> tuple[list[AuditTable], AuditReport]:
        shown = [t.with_suppressed(pl.Series([False] * t.cells.height)) for t in tables]
        return shown, AuditReport(pl.DataFrame(), ())

    monkeypatch.setattr(release, "protect", nothing_hidden)
    before = (copy_of.datasets_dir / versions.CURRENT).read_bytes()
    with pytest.raises(BawabaError, match=r"\[thresholds\]"):
        publisher.publish(copy_of)
    assert (copy_of.datasets_dir / versions.CURRENT).read_bytes() == before


def test_a_first_version_records_every_cell_as_added(copy_of: Settings) -> None:
    root = copy_of.datasets_dir
    first = versions.read_release(root)
    assert first is not None
    v1 = json.loads(
        (root / "epay-annual" / first.datasets["epay-annual"] / "changes.json").read_text()
    )
    assert v1["previous"] is None
    assert v1["added_cells"] == versions.read_manifest(root, "epay-annual", v1["version"]).rows


def _last_publish_report(settings: Settings) -> dict[str, Any]:
    path = max((settings.var_dir / "publish").glob("*.json"))
    found: dict[str, Any] = json.loads(path.read_text())
    return found


PAYER_FIELDS = (
    "partnerName",
    "nationalId",
    "licenceNo",
    "mobileNo",
    "emailAddr",
    "cardPan",
    "payerIban",
    "vehiclePlate",
    "partnerAddress",
    "partnerId",
    "clientIp",
)
"""Who pays, in RTA's export (simulator dialect ``rta``)."""


def _late_payments_of_one_cell(settings: Settings, month: str, payers: int) -> None:
    """The month's late records, replaced by ``payers`` late payments identical but for who
    made them (one day, hour, service, channel, method, amount): every cell they touch, in
    every table, moves by ``payers`` payers, so the revision rule lets them in."""
    for late in settings.landing_dir.glob(f"*/*_{month}-late.*"):
        late.unlink()
    source = settings.landing_dir / "RTA" / f"RTA_{month}.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()]
    base = next(
        r
        for r in records
        if (r["movementType"], r["paymentStatus"], r["partnerCategory"]) == ("PAY", "S", "P")
    )
    donors = {r["nationalId"]: r for r in records if r["partnerCategory"] == "P"}
    donors.pop(base["nationalId"], None)
    batch = [
        base | {f: d[f] for f in PAYER_FIELDS} | {"paymentRef": f"RTA-LATE-{i}", "docNumber": i}
        for i, d in enumerate(list(donors.values())[:payers], start=9_000_001)
    ]
    assert len(batch) == payers
    late = source.with_name(f"RTA_{month}-late.jsonl")
    late.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch))


def test_publish_says_which_periods_it_adds_revises_and_withholds(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path / "var",
        datasets_dir=tmp_path / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.05,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    # File-drop departments of every format, enough payers for a month's tables (as in the
    # monthly cycles).
    departments = ("RTA", "DEWA", "DM", "DED", "DTCM", "DP", "DCAA")
    chosen = [arg for d in departments for arg in ("--department", d)]
    printed = []
    for month in ("2012-01", "2012-02"):
        bawaba(settings, "simulate", "--through", month, *chosen)
        if month == "2012-02":
            _late_payments_of_one_cell(settings, "2012-01", payers=15)
        bawaba(settings, "pipelines", "run", *departments)
        printed.append((bawaba(settings, "publish").stdout, _last_publish_report(settings)))

    (first, _), (second, second_report) = printed
    assert "epay-monthly v1: adds 2012-01\n" in first
    assert re.search(r"^epay-daily v1: adds 31 periods, 2012-01-01 to 2012-01-31$", first, re.M)
    # February adds its month; January's late payments revise it.
    assert second_report["held_back_months"] == []
    summary = json.loads(
        (settings.datasets_dir / "epay-monthly" / "v2" / "changes.json").read_text()
    )
    cells = summary["revised_periods"]["2012-01"]
    line = f"epay-monthly v2: adds 2012-02; revises 2012-01 ({cells} cell{'s' * (cells != 1)})"
    assert line + "\n" in second
    # Every other line agrees with what the publish recorded.
    for out, report in printed:
        for outcome in report["datasets"]:
            if outcome["status"] == "withheld":
                assert f"{outcome['dataset']} withheld: {outcome['note']}" in out
            elif outcome["status"] == "unchanged":
                assert f"{outcome['dataset']} {outcome['version']}:" not in out
            else:
                assert f"{outcome['dataset']} {outcome['version']}: " in out
