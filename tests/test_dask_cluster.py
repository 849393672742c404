"""Ingest and publish on a real Dask cluster: a LocalCluster of a scheduler and two worker
processes over TCP on loopback, driven through ``bawaba … --cluster``.

The same simulated input (scale 0.01, one delivery cut short, one department's export
missing a column) is ingested and published here and on the cluster; the store and the
release must be the same bytes, a worker killed mid-task must change nothing, and the bad
input must be quarantined, or fail its department, exactly as the local run does. Without a
cluster, neither command imports Dask.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import psutil
import pytest
from distributed import Client, LocalCluster

from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, env_for, random_key

pytestmark = [pytest.mark.xdist_group("dask-cluster"), pytest.mark.slow]

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# The department whose task is killed: the largest delivery, so that its task is still
# running when the worker goes.
VICTIM = "DEWA"


def bawaba(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BAWABA, *args], env=env_for(settings), capture_output=True, text=True, timeout=300
    )


def _edit_csv(path: Path, columns_dropped: str) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index(columns_dropped)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([r[:at] + r[at + 1 :] for r in rows])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A simulation with bad input: a CDA delivery cut short mid-line (quarantined whole),
    and a PP delivery without its service column (PP fails at its read step)."""
    root = tmp_path_factory.mktemp("inputs")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.01,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    done = bawaba(settings, "simulate")
    assert done.returncode == 0, done.stderr
    cut = sorted((settings.landing_dir / "CDA").glob("*.csv"))[0]
    data = cut.read_bytes()
    cut.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 12])
    _edit_csv(sorted((settings.landing_dir / "PP").glob("*.csv"))[0], "رمز الخدمة")
    return settings


def copy_of(inputs: Settings, root: Path) -> Settings:
    """The same input in a folder of its own (copied with the files' times, which the
    ledger records)."""
    shutil.copytree(inputs.var_dir, root / "var", symlinks=True)
    return inputs.model_copy(update={"var_dir": root / "var", "datasets_dir": root / "datasets"})


def started(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BAWABA, *args],
        env=env_for(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ingest(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return started(settings, "pipelines", "run", *args)


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def ingested(settings: Settings, *args: str) -> tuple[int, str, str]:
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        served = settings.model_copy(update={"departments_api_url": url})
        return finished(ingest(served, *args))


def run_ids(settings: Settings) -> list[str]:
    manifest = json.loads((settings.store_dir / "manifest.json").read_text())
    return [run["run_id"] for run in manifest["runs"]]


def _anonymous(text: str, ids: list[str]) -> str:
    for n, run_id in enumerate(ids):
        text = text.replace(run_id, f"RUN{n}")
    return text


def store_image(settings: Settings) -> dict[str, Any]:
    """What a run leaves, with its run ids and clock times taken out: every file of the
    store, the quarantine, the landing zone and the payer index, by digest; the manifest;
    and the run report's counts. Two runs on the same input must leave the same image."""
    ids = run_ids(settings)
    files = {
        _anonymous(str(p.relative_to(settings.var_dir)), ids): hashlib.sha256(
            p.read_bytes()
        ).hexdigest()
        for folder in ("store", "quarantine", "landing", "pseudonyms")
        for p in sorted((settings.var_dir / folder).rglob("*"))
        if p.is_file() and p.name not in {".lock", "manifest.json"}
    }
    manifest = json.loads(_anonymous((settings.store_dir / "manifest.json").read_text(), ids))
    for run in manifest["runs"]:
        del run["started_at"], run["finished_at"]
    [report_file] = settings.runs_dir.glob("*.json")
    report = json.loads(_anonymous(report_file.read_text(), ids))
    for department in report["departments"]:
        del department["seconds"]
    return {"files": files, "manifest": manifest, "report": report}


@pytest.fixture(scope="module")
def local(inputs: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The local run on the input: the image every cluster run must leave."""
    settings = copy_of(inputs, tmp_path_factory.mktemp("local"))
    code, _, err = ingested(settings)
    assert code == 1, err  # PP fails
    return settings


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # The tests read what ran from the scheduler's transition log, which keeps the last
    # 1,000 transitions by default: fewer than one ingest makes.
    with (
        dask.config.set({"distributed.admin.low-level-log-length": 1_000_000}),
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            protocol="tcp",
            dashboard_address=":0",
        ) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.scheduler_address, set_as_default=False) as connected:
        yield connected


def test_the_bad_input_fails_and_quarantines_as_it_should(local: Settings) -> None:
    """The local run's verdict on the bad input, which the cluster runs must repeat."""
    report = {d["department"]: d for d in store_image(local)["report"]["departments"]}
    assert "failed at step 'read'" in report["PP"]["error"]
    assert "رمز الخدمة" in report["PP"]["error"]
    [broken] = report["CDA"]["broken_files"]
    assert "is cut short" in broken["message"]
    assert report["CDA"]["reasons"]["unreadable_file"] == broken["rows"] > 0
    for d in report.values():
        if d["error"] is None:
            assert d["raw"] == d["accepted"] + d["quarantined"] + d["duplicates"]
    assert sum(d["quarantined"] for d in report.values()) > broken["rows"]  # rows too


def test_ingest_on_the_cluster_leaves_the_same_store(
    inputs: Settings, local: Settings, cluster: LocalCluster, tmp_path: Path
) -> None:
    settings = copy_of(inputs, tmp_path)
    code, out, err = ingested(settings, "--cluster", cluster.scheduler_address)
    assert code == 1, err
    assert "ingestion run" in out
    assert store_image(settings) == store_image(local)
    assert "PP" not in json.loads((settings.store_dir / "manifest.json").read_text())["parts"]


def _processing(client: Client, pattern: str) -> tuple[str, list[str]] | None:
    """A worker running a task whose key matches ``pattern``, if one is, and the tasks it
    runs."""
    for worker, keys in client.processing().items():
        if any(re.fullmatch(pattern, str(k)) for k in keys):
            return str(worker), [str(k) for k in keys]
    return None


def finished_with_a_worker_killed(
    client: Client, pids: dict[str, int], process: subprocess.Popen[str], pattern: str
) -> tuple[list[str], int, str]:
    """Wait for ``process``, killing meanwhile the worker (``pids``: each worker's, asked
    before the run) that runs a task whose key matches ``pattern``, once one does; the
    tasks that worker held when it died, the exit code and the error output.

    The worker is stopped (SIGSTOP) first, and killed only if the scheduler, asked once
    any answer of the worker's has had time to arrive, still sees such a task on it: a
    stopped worker cannot finish it, so the kill always takes a task with it (a short task
    seen running could otherwise finish before the kill, and nothing would run again)."""
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the run ended before the task was killed"
            assert time.monotonic() < deadline, "the task never ran"
            running = _processing(client, pattern)
            if running is None:
                time.sleep(0.002)
                continue
            victim = psutil.Process(pids[running[0]])
            victim.suspend()
            time.sleep(0.2)
            still = _processing(client, pattern)
            if still is not None and still[0] == running[0]:
                keys = still[1]
                break
            victim.resume()
        victim.kill()
        victim.wait(timeout=10)  # its nanny reaps it; a process that lived on fails here
        assert not victim.is_running()
        code, _, err = finished(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return keys, code, err


def test_a_worker_killed_mid_task_changes_nothing(
    inputs: Settings, local: Settings, cluster: LocalCluster, client: Client, tmp_path: Path
) -> None:
    settings = copy_of(inputs, tmp_path)
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        served = settings.model_copy(update={"departments_api_url": url})
        # Asked before the run: a file task is short, and asking a worker its pid once the
        # task is seen running would give it the time to finish first.
        pids = client.run(os.getpid)
        process = ingest(served, "--cluster", cluster.scheduler_address)
        keys, code, err = finished_with_a_worker_killed(
            client, pids, process, rf"ingest-.*-{VICTIM}-.*"
        )
    assert code == 1, err
    # The task the dead worker held ran again elsewhere (or on its restarted self).
    again = client.run_on_scheduler(_times_processing, keys)
    assert any(n >= 2 for n in again.values()), again
    assert store_image(settings) == store_image(local)


def _times_processing(keys: list[str], dask_scheduler: Any = None) -> dict[str, int]:
    """How often each of ``keys`` was sent to a worker (run on the scheduler)."""
    log = dask_scheduler.transition_log
    return {k: sum(1 for entry in log if entry[0] == k and entry[2] == "processing") for k in keys}


def test_without_a_cluster_dask_is_never_imported(local: Settings, tmp_path: Path) -> None:
    """The embedded default stays as it was: ``pipelines run`` and ``publish`` here, with no
    Dask in the process."""
    settings = copy_of(local, tmp_path)
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('imported:', sorted({m.split('.')[0] for m in "
        "sys.modules if m.split('.')[0] in ('dask', 'distributed')})))\n"
        "from bawaba.cli import main\n"
        "sys.argv = ['bawaba', *sys.argv[1:]]\n"
        "main()\n"
    )
    for args in (["pipelines", "run", "CDA"], ["publish"]):
        done = subprocess.run(
            [PYTHON, "-c", probe, *args],
            env=env_for(settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "imported: []" in done.stdout, done.stdout[-500:]


def release_image(settings: Settings) -> dict[str, Any]:
    """A release with its id and clock times taken out: each dataset version's
    ``data.parquet`` by digest, and every other file of it as JSON without its times."""
    pointer = json.loads((settings.datasets_dir / "current.json").read_text())
    release = pointer["release"]
    image: dict[str, Any] = {}
    for dataset, version in sorted(pointer["datasets"].items()):
        for path in sorted((settings.datasets_dir / dataset / version).iterdir()):
            if path.suffix == ".parquet":
                image[f"{dataset}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.suffix == ".json":
                image[f"{dataset}/{path.name}"] = _timeless(
                    json.loads(path.read_text().replace(release, "RELEASE"))
                )
    return image


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _timeless(v)
            for k, v in value.items()
            if not k.endswith(("_at", "created", "modified", "issued"))
        }
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_publish_on_the_cluster_gives_the_same_release(
    local: Settings, cluster: LocalCluster, client: Client, tmp_path: Path
) -> None:
    here = copy_of(local, tmp_path / "here")
    there = copy_of(local, tmp_path / "there")
    done = bawaba(here, "publish")
    assert done.returncode == 0, done.stderr
    done = bawaba(there, "publish", "--cluster", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    assert "switched to the new release" in done.stdout
    ours, theirs = release_image(here), release_image(there)
    assert len([k for k in ours if k.endswith("data.parquet")]) >= 5
    assert theirs == ours
    # And the years were built there: both of them, as tasks; and each year's disclosure
    # audit ran there too, a task per job and round.
    assert client.run_on_scheduler(_years_built) == 2
    audits = client.run_on_scheduler(_audit_tasks)
    assert len({key.split("-")[2] for key in audits}) == 2, audits
    assert all(re.fullmatch(r"audit-[0-9a-f]{32}-\d{4}-\d+-\d+", key) for key in audits)


def _years_built(dask_scheduler: Any = None) -> int:
    return len(_done_on_scheduler("publish-", dask_scheduler))


def _audit_tasks(dask_scheduler: Any = None) -> set[str]:
    return _done_on_scheduler("audit-", dask_scheduler)


def _done_on_scheduler(prefix: str, dask_scheduler: Any) -> set[str]:
    """The keys starting with ``prefix`` of the tasks that ran to the end (on the
    scheduler)."""
    log = dask_scheduler.transition_log
    return {str(e[0]) for e in log if str(e[0]).startswith(prefix) and e[2] == "memory"}


def test_a_worker_killed_mid_audit_changes_nothing(
    local: Settings, cluster: LocalCluster, client: Client, tmp_path: Path
) -> None:
    """The worker running an audit task dies (the year's own, or the other): Dask runs its
    tasks again, under the same keys, and the release is the same."""
    here = copy_of(local, tmp_path / "here")
    there = copy_of(local, tmp_path / "there")
    done = bawaba(here, "publish")
    assert done.returncode == 0, done.stderr
    pids = client.run(os.getpid)
    process = started(there, "publish", "--cluster", cluster.scheduler_address)
    keys, code, err = finished_with_a_worker_killed(client, pids, process, r"audit-.*")
    assert code == 0, err
    again = client.run_on_scheduler(_times_processing, keys)
    assert any(n >= 2 for n in again.values()), again
    assert release_image(there) == release_image(here)


def test_a_publish_on_the_cluster_says_how_many_years_are_done(
    local: Settings, cluster: LocalCluster, tmp_path: Path
) -> None:
    from bawaba.publish.publisher import publish

    settings = copy_of(local, tmp_path / "said").model_copy(
        update={"dask_scheduler": cluster.scheduler_address}
    )
    said: list[str] = []
    assert publish(settings, progress=said.append).switched
    shown = [m for m in said if re.fullmatch(r"building on the cluster: [0-2]/2 year\(s\) done", m)]
    assert shown, said


def test_an_ingest_on_the_cluster_says_how_many_files_are_done(
    inputs: Settings, cluster: LocalCluster, tmp_path: Path
) -> None:
    """A task per delivered file: the run counts them, and the rows taken in so far."""
    from bawaba.ingest import registry
    from bawaba.ingest.runner import run_pipelines

    settings = copy_of(inputs, tmp_path).model_copy(
        update={"dask_scheduler": cluster.scheduler_address}
    )
    departments = len(registry.load_pipelines(settings.pipelines_dir))
    said: list[str] = []
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        served = settings.model_copy(update={"departments_api_url": url})
        run_pipelines(served, progress=lambda department, step: said.append(step))
    pattern = r"on the cluster: (\d+)/(\d+) files done, [\d,]+ rows taken in"
    shown = [m for s in said if (m := re.fullmatch(pattern, s))]
    assert shown, said
    totals = {int(m.group(2)) for m in shown}
    assert len(totals) == 1
    # Every landed file, and the export each HTTP department's pull staged, is a task:
    # more than one a department.
    assert totals.pop() > departments > 1
