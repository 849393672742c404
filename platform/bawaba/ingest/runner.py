"""Runs department pipelines: pull -> read -> validate -> quarantine -> sanitise -> commit.

Every failure is wrapped with the department and the step that failed. A department that
fails commits nothing; the others still commit, together, in one atomic switch of the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import orjson
import polars as pl

from bawaba.errors import BawabaError, PipelineStepFailed
from bawaba.fsutil import write_atomic
from bawaba.ingest import read, registry
from bawaba.ingest.connectors import Pulled, RetryPolicy, find_new_files, pull_http
from bawaba.ingest.declarations import FileDrop, Pipeline
from bawaba.ingest.pseudonym import load_key
from bawaba.ingest.sanitise import s1_inputs, sanitise
from bawaba.ingest.store import LedgerEntry, Run, open_run
from bawaba.ingest.validate import DETAIL, REASON, duplicates, validate
from bawaba.reference import Reference, load_reference
from bawaba.settings import Settings

Step = str
Progress = Callable[[str, str], None]
"""Called with (department, step) as each step starts."""


@dataclass
class DepartmentResult:
    department: str
    raw: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    files: int = 0
    watermark: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def balanced(self) -> bool:
        """Nothing lost, nothing silent: every raw row is accounted for exactly once."""
        return self.raw == self.accepted + self.quarantined + self.duplicates


@dataclass
class RunReport:
    run_id: str
    committed: bool
    departments: list[DepartmentResult]

    @property
    def failed(self) -> list[DepartmentResult]:
        return [d for d in self.departments if d.error is not None]


@contextmanager
def _step(department: str, step: Step, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress(department, step)
    try:
        yield
    except PipelineStepFailed:
        raise
    except Exception as error:
        raise PipelineStepFailed(department, step, error) from error


def _pull(pipeline: Pipeline, run: Run, settings: Settings) -> Pulled:
    dept = pipeline.department
    if isinstance(pipeline.source, FileDrop):
        folder = settings.landing_dir / dept
        return find_new_files(pipeline.source, folder, run.state.ledger.get(dept, {}))
    watermark = run.state.watermarks.get(dept, 0)
    target = run.stage_path("landing", dept, f"{dept}_after-{watermark}.jsonl")
    policy = RetryPolicy(
        settings.http_timeout_s, settings.http_max_retries, settings.http_backoff_s
    )
    pulled = pull_http(
        pipeline.source,
        base_url=settings.departments_api_url,
        watermark=watermark,
        target=target,
        policy=policy,
    )
    if pulled.files:
        run.staged_landing[dept] = pulled.files
    return pulled


def run_department(
    pipeline: Pipeline,
    run: Run,
    *,
    key: bytes,
    reference: Reference,
    progress: Progress | None = None,
) -> tuple[DepartmentResult, Pulled]:
    dept = pipeline.department
    result = DepartmentResult(dept)
    with _step(dept, "pull", progress):
        pulled = _pull(pipeline, run, run.settings)
    result.files = len(pulled.files)
    result.watermark = pulled.watermark
    if not pulled.files:
        return result, pulled

    with _step(dept, "read", progress):
        canonical = read.scan_canonical(pipeline.format, pulled.files)
    with _step(dept, "validate", progress):
        checked = validate(canonical, pipeline.format, dept, reference)
        keep = [
            read.ROW,
            REASON,
            DETAIL,
            "reference",
            *s1_inputs(),
            "_occurred_at",
            "amount_fils",
            "_service_code",
            "_record_type",
            "_status",
            "_channel",
            "_payment_method",
            "_bank",
            "_payer_type",
        ]
        rows = checked.select(keep).collect()
    bad = rows.filter(pl.col(REASON).is_not_null())
    valid = rows.filter(pl.col(REASON).is_null())
    repeated = duplicates(valid)
    result.raw = rows.height
    result.quarantined = bad.height
    result.duplicates = int(repeated.sum())
    result.reasons = {str(r): int(n) for r, n in sorted(bad.group_by(REASON).len().iter_rows())}

    if bad.height:
        with _step(dept, "quarantine", progress):
            reasons = bad.select(read.ROW, REASON, DETAIL)
            raw_rows = read.scan_raw_rows(pipeline.format, pulled.files).join(
                reasons.lazy(), on=read.ROW, how="inner"
            )
            target = run.stage_path("quarantine", f"{dept}.parquet")
            raw_rows.sort(read.ROW).collect().write_parquet(target, compression="zstd")
            run.staged_quarantine.append(target)

    with _step(dept, "sanitise", progress):
        accepted = valid.filter(~repeated)
        analytic = sanitise(
            accepted, department=dept, key=key, payers=run.payers, reference=reference
        )
        result.accepted = analytic.height
        if analytic.height:
            target = run.stage_path("parts", f"{dept}.parquet")
            analytic.write_parquet(target, compression="zstd", statistics=True)
            run.staged_parts[dept] = target
    return result, pulled


def run_pipelines(
    settings: Settings, departments: list[str] | None = None, *, progress: Progress | None = None
) -> RunReport:
    """Ingest what is new for the departments named (all when none), commit, report."""
    key = load_key(settings)
    reference = load_reference()
    pipelines = registry.select(registry.load_pipelines(settings.pipelines_dir), departments or [])
    with open_run(settings) as run:
        results: list[DepartmentResult] = []
        watermarks: dict[str, int] = {}
        ledger: dict[str, dict[str, LedgerEntry]] = {}
        for pipeline in pipelines:
            started = time.perf_counter()
            payers_before = run.payers.size
            try:
                result, pulled = run_department(
                    pipeline, run, key=key, reference=reference, progress=progress
                )
            except BawabaError as error:
                result = DepartmentResult(pipeline.department, error=str(error))
                _forget(run, pipeline.department)
                run.payers.truncate(payers_before)
            else:
                if pulled.watermark is not None:
                    watermarks[pipeline.department] = pulled.watermark
                if pulled.ledger:
                    ledger[pipeline.department] = pulled.ledger
            result.seconds = round(time.perf_counter() - started, 3)
            results.append(result)
        committed = any(r.files and r.error is None for r in results)
        summaries = {r.department: _summary(r) for r in results if r.error is None}
        if committed:
            run.commit(summaries, watermarks, ledger)
        report = RunReport(run.run_id, committed, results)
        write_atomic(
            settings.runs_dir / f"{run.run_id}.json",
            orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2),
        )
        return report


def _forget(run: Run, department: str) -> None:
    """Drop what a failed department staged, so the commit leaves it as it was."""
    run.staged_parts.pop(department, None)
    run.staged_landing.pop(department, None)
    run.staged_quarantine = [p for p in run.staged_quarantine if p.stem != department]


def _summary(result: DepartmentResult) -> dict[str, object]:
    return {
        "raw": result.raw,
        "accepted": result.accepted,
        "quarantined": result.quarantined,
        "duplicates": result.duplicates,
        "reasons": result.reasons,
        "files": result.files,
        "watermark": result.watermark,
    }
