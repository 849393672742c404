"""Runs department pipelines: pull -> read -> validate -> quarantine -> sanitise -> commit.

Every failure is wrapped with the department and the step that failed. A department that
fails commits nothing; the others still commit, together, in one atomic switch of the store.

Three kinds of work overlap, each kept in department order: pulls run ahead in background
threads; each piece of a department is checked (``department.check``) while the piece
before it is accepted (``accept.Accepting``) in a third thread, which finishes departments
in turn. Polars releases the GIL, so the HMAC loop, the JSON pages and the checksums use
the core that a single pipeline would leave idle.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from typing import TypeVar

import orjson
import polars as pl

from bawaba.errors import BawabaError
from bawaba.fsutil import write_atomic
from bawaba.ingest import registry
from bawaba.ingest.accept import Accepting
from bawaba.ingest.connectors import Pulled, RetryPolicy, find_new_files, pull_http
from bawaba.ingest.declarations import FileDrop, HttpExport, Pipeline
from bawaba.ingest.department import (
    BATCH_ROWS,
    DepartmentResult,
    Progress,
    check,
    finish,
    step,
)
from bawaba.ingest.pseudonym import load_key
from bawaba.ingest.store import LedgerEntry, Run, open_run
from bawaba.reference import load_reference
from bawaba.settings import Settings

__all__ = ["DepartmentResult", "Progress", "RunReport", "run_pipelines"]

# Valid rows checked but not yet accepted, at about 150 bytes each once generalised: room
# for two pieces, so that checking does not stall while a piece is accepted.
ROWS_IN_FLIGHT = 2 * BATCH_ROWS
T = TypeVar("T")


@dataclass
class RunReport:
    run_id: str
    committed: bool
    departments: list[DepartmentResult]

    @property
    def failed(self) -> list[DepartmentResult]:
        return [d for d in self.departments if d.error is not None]


def pull(pipeline: Pipeline, run: Run, settings: Settings) -> Pulled:
    dept = pipeline.department
    if isinstance(pipeline.source, FileDrop):
        folder = settings.landing_dir / dept
        return find_new_files(pipeline.source, folder, run.state.ledger.get(dept, {}))
    watermark = run.state.watermarks.get(dept, 0)
    target = run.stage_path("landing", dept, f"{dept}_after-{watermark}.jsonl")
    policy = RetryPolicy(
        settings.http_timeout_s, settings.http_max_retries, settings.http_backoff_s
    )
    return pull_http(
        pipeline.source,
        base_url=settings.departments_api_url,
        watermark=watermark,
        target=target,
        policy=policy,
    )


@contextmanager
def _pulls_ahead(
    pipelines: list[Pipeline], run: Run, settings: Settings
) -> Iterator[Callable[[Pipeline], Pulled]]:
    """Yields the pull of each department's new data.

    Pulls run ahead of the processing, in department order, in two background threads: one
    pages through the HTTP exports, the other checksums the dropped files for the ledger.
    Both mostly wait on a department's API or on the disk and would otherwise leave a core
    idle. A pull's failure still surfaces when its department's turn comes, as a failure of
    its pull step.
    """
    http = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-http")
    drops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-drops")
    ahead = {
        p.department: (drops if isinstance(p.source, FileDrop) else http).submit(
            pull, p, run, settings
        )
        for p in pipelines
    }
    try:
        yield lambda pipeline: ahead[pipeline.department].result()
    finally:
        for pool in (http, drops):
            pool.shutdown(wait=True, cancel_futures=True)


def run_pipelines(
    settings: Settings, departments: list[str] | None = None, *, progress: Progress | None = None
) -> RunReport:
    """Ingest what is new for the departments named (all when none), commit, report.

    With ``settings.dask_scheduler`` the departments are checked on that Dask cluster
    (``on_cluster``); the store it commits is the same, byte for byte."""
    if settings.dask_scheduler is not None:
        from bawaba.ingest.on_cluster import run_on_cluster

        return run_on_cluster(settings, departments, progress=progress)
    key = load_key(settings)
    reference = load_reference()
    pipelines = registry.select(registry.load_pipelines(settings.pipelines_dir), departments or [])
    failed: dict[str, DepartmentResult] = {}
    finishing: list[_Finishing] = []
    with (
        open_run(settings) as run,
        _pulls_ahead(pipelines, run, settings) as pulled_of,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="accept") as pool,
    ):
        accepter = _InFlight(pool, ROWS_IN_FLIGHT)
        for pipeline in pipelines:
            dept = pipeline.department
            started = time.perf_counter()
            accepting: Accepting | None = None
            try:
                with step(dept, "pull", progress):
                    pulled = pulled_of(pipeline)
                if pulled.files and isinstance(pipeline.source, HttpExport):
                    run.staged_landing[dept] = pulled.files
                accepting = Accepting(run, dept, key)
                accepter.submit(accepting.begin)
                checked = check(
                    pipeline,
                    run,
                    reference=reference,
                    pulled=pulled,
                    deliver=partial(_deliver, accepter, accepting),
                    progress=progress,
                )
            except BawabaError as error:
                if accepting is not None:
                    accepter.submit(accepting.abort)
                failed[dept] = failed_department(run, dept, error, time.perf_counter() - started)
                continue
            checked.result.seconds = time.perf_counter() - started
            future = accepter.submit(partial(finish, checked, accepting, run, progress=progress))
            finishing.append(_Finishing(pipeline, pulled, future))
        results, watermarks, ledger = _collect(run, finishing, failed)
        return conclude(run, pipelines, results, watermarks, ledger)


def conclude(
    run: Run,
    pipelines: list[Pipeline],
    results: list[DepartmentResult],
    watermarks: dict[str, int],
    ledger: dict[str, dict[str, LedgerEntry]],
) -> RunReport:
    """Commits what the departments that succeeded staged, if any brought something, and
    writes the run's report: the one end of a run, local or on a cluster."""
    order = {p.department: i for i, p in enumerate(pipelines)}
    results.sort(key=lambda r: order[r.department])
    committed = any((r.files or r.raw) and r.error is None for r in results)
    summaries = {r.department: _summary(r) for r in results if r.error is None}
    if committed:
        run.commit(summaries, watermarks, ledger)
    report = RunReport(run.run_id, committed, results)
    write_atomic(
        run.settings.runs_dir / f"{run.run_id}.json",
        orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2),
    )
    return report


@dataclass
class _Finishing:
    """A department handed to the accepter: what to commit once its future is done."""

    pipeline: Pipeline
    pulled: Pulled
    future: Future[DepartmentResult]


class _InFlight:
    """Work for one thread, done in the order submitted; submitting waits while more than
    ``limit`` rows are waiting, so that checking runs ahead of accepting only as far as
    memory allows."""

    def __init__(self, pool: ThreadPoolExecutor, limit: int) -> None:
        self._pool, self._limit = pool, limit
        self._waiting: deque[tuple[int, Future[object]]] = deque()

    def submit(self, work: Callable[[], T], rows: int = 0) -> Future[T]:
        while self._waiting and (
            self._waiting[0][1].done() or sum(n for n, _ in self._waiting) + rows > self._limit
        ):
            self._waiting.popleft()[1].exception()
        future = self._pool.submit(work)
        self._waiting.append((rows, future))  # type: ignore[arg-type]
        return future


def _deliver(accepter: _InFlight, accepting: Accepting, rows: pl.DataFrame) -> None:
    accepter.submit(partial(accepting.add, rows), rows.height)


def _collect(
    run: Run, finishing: list[_Finishing], failed: dict[str, DepartmentResult]
) -> tuple[list[DepartmentResult], dict[str, int], dict[str, dict[str, LedgerEntry]]]:
    """Every department's result, and the connectors' state of those that succeeded."""
    results = list(failed.values())
    watermarks: dict[str, int] = {}
    ledger: dict[str, dict[str, LedgerEntry]] = {}
    for entry in finishing:
        dept, pulled = entry.pipeline.department, entry.pulled
        try:
            result = entry.future.result()
        except BawabaError as error:
            results.append(failed_department(run, dept, error, 0.0))
            continue
        if pulled.watermark is not None:
            watermarks[dept] = pulled.watermark
        if pulled.ledger:
            ledger[dept] = pulled.ledger
        result.seconds = round(result.seconds, 3)
        results.append(result)
    return results, watermarks, ledger


def failed_department(
    run: Run, department: str, error: BawabaError, seconds: float
) -> DepartmentResult:
    _forget(run, department)
    return DepartmentResult(department, seconds=round(seconds, 3), error=str(error))


def _forget(run: Run, department: str) -> None:
    """Drop what a failed department staged, so the commit leaves it as it was."""
    run.staged_parts.pop(department, None)
    run.staged_landing.pop(department, None)
    run.staged_quarantine.pop(department, None)
    run.staged_ranges.pop(department, None)
    run.staged_rewrites.pop(department, None)


def _summary(result: DepartmentResult) -> dict[str, object]:
    return {
        "raw": result.raw,
        "accepted": result.accepted,
        "quarantined": result.quarantined,
        "duplicates": result.duplicates,
        "reasons": result.reasons,
        "files": result.files,
        "broken_files": result.broken_files,
        "revised": result.revised,
        "watermark": result.watermark,
    }
