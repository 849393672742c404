"""An ingestion run on a Dask cluster: each department's pull a task, each file's check a
task, the rest here.

A department's first task is its pull (``pull_department``: an export paged through, or the
landed files checksummed against the ledger). Then each file it found is a task
(``check_file``): whether it can be read whole (``intact``), then its pieces read,
validated and generalised (``department.check_rows``), the work that grows with the rows
delivered. A task writes under a folder of its own attempt inside the run's staging
(``.staging/<run>/attempts/<DEPT>-<uuid>``): the pulled export, and each piece's valid and
rejected rows as Arrow files. Nothing there is visible to any reader; a worker lost
mid-task leaves a folder nobody will look at, Dask runs the task again under a new
attempt, and the staging goes with the run whatever happens.

The coordinator then does what must happen in one place and in department order, as the
local run does (``department.Checking``): broken files set aside, headers checked, the
pieces joined again into the chunks the local run reads (the order of a part's rows
follows them), rejected rows numbered across the department's files and quarantined,
re-deliveries dropped and payer ids drawn in order of first appearance across
departments (``accept.Accepting``: the store's bytes depend on that order, and the
pseudonym key never leaves the coordinator), the revisions' rewrites, and the one commit.
A department whose task failed for its input fails as it would locally; a task the cluster
could not run at all (its workers died too often) fails the run, and nothing is committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from bawaba.cluster.tasks import connect, results_in_turn, shippable
from bawaba.errors import BawabaError
from bawaba.ingest import intact, read, registry
from bawaba.ingest.accept import Accepting
from bawaba.ingest.connectors import Pulled
from bawaba.ingest.declarations import HttpExport, Pipeline
from bawaba.ingest.department import (
    BATCH_ROWS,
    CheckedRows,
    Checking,
    DepartmentResult,
    Progress,
    check_rows,
    chunks,
    finish,
    step,
)
from bawaba.ingest.payers import PayerIndex
from bawaba.ingest.pseudonym import load_key
from bawaba.ingest.runner import RunReport, conclude, failed_department, pull
from bawaba.ingest.store import LedgerEntry, Run, StoreState, open_run
from bawaba.reference import load_reference
from bawaba.settings import Settings

if TYPE_CHECKING:
    from distributed import Future


@dataclass
class _Attempt(Run):
    """A run as one task sees it: its own staging folder, nothing of the payer index."""

    folder: Path = field(default_factory=Path)

    @property
    def staging(self) -> Path:
        return self.folder


@dataclass
class PulledDepartment:
    """What a pull task sends back: the department's new files (an HTTP export's staged
    under the task's attempt), and the state to commit if they are ingested."""

    department: str
    pulled: Pulled | None = None
    seconds: float = 0.0
    error: str | None = None


def pull_department(
    settings: Settings,
    run_id: str,
    pipeline: Pipeline,
    ledger: dict[str, LedgerEntry],
    watermark: int,
) -> PulledDepartment:
    """The first task of a department: its pull (the export paged through, or the landed
    files checksummed against the ledger)."""
    started = time.perf_counter()
    dept = pipeline.department
    out = PulledDepartment(dept)
    try:
        with step(dept, "pull", None):
            out.pulled = pull(
                pipeline, _attempt(settings, run_id, dept, ledger, watermark), settings
            )
    except BawabaError as error:
        out.error = str(error)
    out.seconds = time.perf_counter() - started
    return out


@dataclass
class CheckedPiece:
    """One piece of a file, checked: its rows stay in the files it names."""

    raw: int
    valid: Path
    rejected: Path | None
    reasons: list[str]


@dataclass
class CheckedFile:
    """What a file task sends back: whether the file can be read whole, and its pieces."""

    path: Path
    broken: intact.Broken | None = None
    pieces: list[CheckedPiece] = field(default_factory=list)
    unreadable: str | None = None
    """The failure of the check that the file can be read whole, if it failed."""
    error: str | None = None
    """The failure of reading or checking its rows, if one failed."""
    seconds: float = 0.0


def check_file(
    settings: Settings, run_id: str, pipeline: Pipeline, path: Path, names: list[str]
) -> CheckedFile:
    """The task of each delivered file: whether it can be read whole, and its pieces read,
    validated and generalised (``department.check_rows``, each piece numbered from 0;
    ``names`` are the department's files, for ``_file``), written under an attempt of its
    own. Depends only on its arguments and the files they name."""
    started = time.perf_counter()
    dept, fmt = pipeline.department, pipeline.format
    attempt = _attempt(settings, run_id, dept, {}, 0)
    out = CheckedFile(path)
    try:
        with step(dept, "read", None):
            out.broken = intact.check_file(fmt, path)
    except BawabaError as error:
        out.unreadable = str(error)
    if out.broken is not None or out.unreadable is not None:
        out.seconds = time.perf_counter() - started
        return out
    reference, enum = load_reference(), pl.Enum(names)
    try:
        pieces = read.pieces(fmt, path, BATCH_ROWS)
        while True:
            with step(dept, "read", None):
                piece = next(pieces, None)
            if piece is None:
                break
            rows = check_rows(pipeline, reference, [piece], enum, 0)
            number = f"{len(out.pieces):06d}"
            valid = attempt.stage_path("valid", f"{number}.arrow")
            rows.valid.write_ipc(valid, compression="lz4")
            rejected = None
            if rows.rejected.height:
                rejected = attempt.stage_path("rejected", f"{number}.arrow")
                rows.rejected.write_ipc(rejected, compression="lz4")
            out.pieces.append(CheckedPiece(rows.raw, valid, rejected, rows.reasons))
    except BawabaError as error:
        out.error = str(error)
    out.seconds = time.perf_counter() - started
    return out


def _attempt(
    settings: Settings, run_id: str, department: str, ledger: dict[str, LedgerEntry], mark: int
) -> _Attempt:
    """A task's view of the run, staging under a folder of its own attempt."""
    folder = settings.store_dir / ".staging" / run_id / "attempts"
    state = StoreState(ledger={department: ledger}, watermarks={department: mark})
    return _Attempt(
        settings, run_id, state, PayerIndex(), folder=folder / f"{department}-{uuid.uuid4().hex}"
    )


def run_on_cluster(
    settings: Settings, departments: list[str] | None = None, *, progress: Progress | None = None
) -> RunReport:
    """``runner.run_pipelines`` with the departments pulled, and their files checked, on
    the cluster at ``settings.dask_scheduler``."""
    assert settings.dask_scheduler is not None
    key = load_key(settings)
    pipelines = registry.select(registry.load_pipelines(settings.pipelines_dir), departments or [])
    shipped = shippable(settings)
    with connect(settings.dask_scheduler) as client, open_run(settings) as run:
        pulls = [
            client.submit(
                pull_department,
                shipped,
                run.run_id,
                p,
                run.state.ledger.get(p.department, {}),
                run.state.watermarks.get(p.department, 0),
                key=f"pull-{run.run_id}-{p.department}",
            )
            for p in pipelines
        ]
        pulled = list(results_in_turn(client, pulls, _waiting(pipelines, "pulls", progress)))
        tasks: list[list[Future[CheckedFile]]] = []
        for pipeline, out in zip(pipelines, pulled, strict=True):
            files = out.pulled.files if out.pulled is not None else []
            names = [path.name for path in files]
            tasks.append(
                [
                    client.submit(
                        check_file,
                        shipped,
                        run.run_id,
                        pipeline,
                        path,
                        names,
                        key=f"ingest-{run.run_id}-{pipeline.department}-{i}",
                    )
                    for i, path in enumerate(files)
                ]
            )
        every = [task for department in tasks for task in department]
        results: list[DepartmentResult] = []
        watermarks: dict[str, int] = {}
        ledger: dict[str, dict[str, LedgerEntry]] = {}
        owners = [p for p, department in zip(pipelines, tasks, strict=True) for _ in department]
        waiting = _waiting(owners, "files", progress, lambda: sum(r.raw for r in results))
        with closing(results_in_turn(client, every, waiting)) as outs:
            for pipeline, out, department in zip(pipelines, pulled, tasks, strict=True):
                checked_files = [next(outs) for _ in department]
                result = _accept(run, pipeline, out, checked_files, key, progress)
                results.append(result)
                dept = pipeline.department
                if result.error is None and out.pulled is not None:
                    if out.pulled.watermark is not None:
                        watermarks[dept] = out.pulled.watermark
                    if out.pulled.ledger:
                        ledger[dept] = out.pulled.ledger
        return conclude(run, pipelines, results, watermarks, ledger)


def _waiting(
    pipelines: list[Pipeline],
    what: str,
    progress: Progress | None,
    taken: Callable[[], int] = lambda: 0,
) -> Callable[[int, int, int], None] | None:
    """Tells ``progress`` how many of the tasks (one per entry of ``pipelines``) are done,
    and how many rows the departments taken in so far brought."""
    if progress is None:
        return None

    def waiting(index: int, done: int, total: int) -> None:
        assert progress is not None
        said = f"on the cluster: {done}/{total} {what} done, {taken():,} rows taken in"
        progress(pipelines[index].department, said)

    return waiting


def _accept(
    run: Run,
    pipeline: Pipeline,
    pulled: PulledDepartment,
    files: list[CheckedFile],
    key: bytes,
    progress: Progress | None,
) -> DepartmentResult:
    """Takes a department into the run as the local run does (``department.check``): its
    broken files set aside, its headers checked, then its files' pieces, joined again into
    the local run's chunks, quarantined and accepted in delivery order."""
    dept = pipeline.department
    seconds = pulled.seconds + sum(f.seconds for f in files)
    if pulled.error is not None or pulled.pulled is None:
        return failed_department(run, dept, BawabaError(pulled.error or "no result"), seconds)
    started = time.perf_counter()
    found = pulled.pulled
    unreadable = next((f.unreadable for f in files if f.unreadable is not None), None)
    if unreadable is not None:
        return failed_department(run, dept, BawabaError(unreadable), seconds)
    if found.files and isinstance(pipeline.source, HttpExport):
        run.staged_landing[dept] = found.files
    verdicts = {f.path: f.broken for f in files}
    accepting = Accepting(run, dept, key)
    accepting.begin()
    try:
        checking = Checking.begin(pipeline, run, found, progress, verdicts.__getitem__)
        read_whole = {f.path: f for f in files if f.broken is None}
        failed = next((read_whole[p].error for p in checking.files if read_whole[p].error), None)
        if failed is not None:
            raise BawabaError(failed)
        pieces = [piece for path in checking.files for piece in read_whole[path].pieces]
        for chunk in chunks(pieces, lambda piece: piece.raw):
            parts = [_load(piece) for piece in chunk]
            rows = CheckedRows.joined(parts, checking.checked.result.raw)
            checking.take(rows, accepting.add, progress)
        result = finish(checking.end(progress), accepting, run, progress=progress)
    except BawabaError as error:
        accepting.abort()
        return failed_department(run, dept, error, seconds + time.perf_counter() - started)
    result.seconds = round(seconds + time.perf_counter() - started, 3)
    return result


def _load(piece: CheckedPiece) -> CheckedRows:
    rejected = pl.read_ipc(piece.rejected) if piece.rejected is not None else pl.DataFrame()
    return CheckedRows(piece.raw, pl.read_ipc(piece.valid), rejected, piece.reasons)
