"""An ingestion run on a Dask cluster: each department checked as a task, the rest here.

A task (``check_department``) is a department's pull, read, validation, quarantine and
generalisation (``department.check``), the work that grows with the rows delivered. It
writes everything under a folder of its own attempt inside the run's staging
(``.staging/<run>/attempts/<DEPT>-<uuid>``): the pulled export, the quarantined rows and
files, and the valid rows as Arrow pieces in delivery order. Nothing there is visible to
any reader; a worker lost mid-task leaves a folder nobody will look at, Dask runs the
task again under a new attempt, and the staging goes with the run whatever happens.

The coordinator then does what must happen in one place and in department order, as the
local run does: dropping re-deliveries and drawing payer ids in order of first appearance
across departments (``accept.Accepting``: the store's bytes depend on that order, and the
pseudonym key never leaves the coordinator), the revisions' rewrites, and the one commit.
A department whose task failed for its input fails as it would locally; a task the cluster
could not run at all (its workers died too often) fails the run, and nothing is committed.
"""

from __future__ import annotations

import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bawaba.cluster.tasks import connect, results_in_turn, shippable
from bawaba.errors import BawabaError
from bawaba.ingest import registry
from bawaba.ingest.accept import Accepting
from bawaba.ingest.connectors import Pulled
from bawaba.ingest.declarations import HttpExport, Pipeline
from bawaba.ingest.department import Checked, DepartmentResult, Progress, check, finish, step
from bawaba.ingest.payers import PayerIndex
from bawaba.ingest.pseudonym import load_key
from bawaba.ingest.runner import RunReport, conclude, failed_department, pull
from bawaba.ingest.store import LedgerEntry, Run, StoreState, open_run
from bawaba.reference import load_reference
from bawaba.settings import Settings


@dataclass
class _Attempt(Run):
    """A run as one task sees it: its own staging folder, nothing of the payer index."""

    folder: Path = field(default_factory=Path)

    @property
    def staging(self) -> Path:
        return self.folder


@dataclass
class CheckedDepartment:
    """What a task sends back: small, the rows stay in the files it names."""

    department: str
    folder: Path
    pulled: Pulled | None = None
    checked: Checked | None = None
    pieces: list[Path] = field(default_factory=list)
    """The valid rows, generalised, one Arrow file per piece in delivery order."""
    quarantine: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def check_department(
    settings: Settings,
    run_id: str,
    pipeline: Pipeline,
    ledger: dict[str, LedgerEntry],
    watermark: int,
) -> CheckedDepartment:
    """The task: one department's new data, pulled and checked, staged under an attempt
    of its own. Depends only on its arguments and the files they name."""
    started = time.perf_counter()
    dept = pipeline.department
    folder = settings.store_dir / ".staging" / run_id / "attempts" / f"{dept}-{uuid.uuid4().hex}"
    state = StoreState(ledger={dept: ledger}, watermarks={dept: watermark})
    attempt = _Attempt(settings, run_id, state, PayerIndex(), folder=folder)
    out = CheckedDepartment(dept, folder)

    def deliver(rows: pl.DataFrame) -> None:
        path = attempt.stage_path("valid", f"{len(out.pieces):06d}.arrow")
        rows.write_ipc(path, compression="lz4")
        out.pieces.append(path)

    try:
        with step(dept, "pull", None):
            out.pulled = pull(pipeline, attempt, settings)
        out.checked = check(
            pipeline, attempt, reference=load_reference(), pulled=out.pulled, deliver=deliver
        )
    except BawabaError as error:
        out.error = str(error)
    out.quarantine = attempt.staged_quarantine.get(dept, [])
    out.seconds = time.perf_counter() - started
    return out


def run_on_cluster(
    settings: Settings, departments: list[str] | None = None, *, progress: Progress | None = None
) -> RunReport:
    """``runner.run_pipelines`` with the departments checked on the cluster at
    ``settings.dask_scheduler``."""
    assert settings.dask_scheduler is not None
    key = load_key(settings)
    pipelines = registry.select(registry.load_pipelines(settings.pipelines_dir), departments or [])
    shipped = shippable(settings)
    with connect(settings.dask_scheduler) as client, open_run(settings) as run:
        futures = [
            client.submit(
                check_department,
                shipped,
                run.run_id,
                p,
                run.state.ledger.get(p.department, {}),
                run.state.watermarks.get(p.department, 0),
                key=f"ingest-{run.run_id}-{p.department}",
            )
            for p in pipelines
        ]
        results: list[DepartmentResult] = []
        watermarks: dict[str, int] = {}
        ledger: dict[str, dict[str, LedgerEntry]] = {}

        def waiting(index: int, done: int, total: int) -> None:
            if progress is not None:
                dept = pipelines[index].department
                rows = sum(r.raw for r in results)
                progress(dept, f"on the cluster: {done}/{total} tasks done, {rows:,} rows taken in")

        with closing(results_in_turn(client, futures, waiting)) as outs:
            for pipeline, out in zip(pipelines, outs, strict=True):
                dept = pipeline.department
                result = _accept(run, pipeline, out, key, progress)
                results.append(result)
                if result.error is None and out.pulled is not None:
                    if out.pulled.watermark is not None:
                        watermarks[dept] = out.pulled.watermark
                    if out.pulled.ledger:
                        ledger[dept] = out.pulled.ledger
        return conclude(run, pipelines, results, watermarks, ledger)


def _accept(
    run: Run, pipeline: Pipeline, out: CheckedDepartment, key: bytes, progress: Progress | None
) -> DepartmentResult:
    """Takes a checked department into the run: its staged files, then its valid rows
    through ``Accepting`` as the local run hands them, piece by piece."""
    dept = pipeline.department
    if out.error is not None or out.checked is None or out.pulled is None:
        return failed_department(run, dept, BawabaError(out.error or "no result"), out.seconds)
    started = time.perf_counter()
    _adopt_quarantine(run, out)
    if out.pulled.files and isinstance(pipeline.source, HttpExport):
        run.staged_landing[dept] = out.pulled.files
    accepting = Accepting(run, dept, key)
    accepting.begin()
    try:
        with step(dept, "sanitise", progress):
            for piece in out.pieces:
                accepting.add(pl.read_ipc(piece))
        result = finish(out.checked, accepting, run, progress=progress)
    except BawabaError as error:
        accepting.abort()
        return failed_department(run, dept, error, out.seconds)
    result.seconds = round(out.seconds + time.perf_counter() - started, 3)
    return result


def _adopt_quarantine(run: Run, out: CheckedDepartment) -> None:
    """Moves the attempt's quarantine to where the commit takes the run's from."""
    inside = out.folder / "quarantine"
    adopted = []
    for staged in out.quarantine:
        target = run.stage_path("quarantine", *staged.relative_to(inside).parts)
        staged.replace(target)
        adopted.append(target)
    if adopted:
        run.staged_quarantine[out.department] = adopted
