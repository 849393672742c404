"""One department's new data through the engine, in two halves the runner overlaps.

``check`` reads the landed files a batch at a time: read -> validate -> quarantine ->
sanitise, keeping of each batch only its valid rows, generalised and compact. ``finish``
takes the department's valid rows whole: drops re-deliveries, draws payer ids in order of
first appearance, and stages the analytic part. Batches bound memory by the batch, not by
the department: raw text costs several hundred bytes a row, a generalised row about a
hundred.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl

from bawaba.errors import PipelineStepFailed
from bawaba.ingest import quarantine, read, revise
from bawaba.ingest.connectors import Pulled
from bawaba.ingest.declarations import Pipeline
from bawaba.ingest.sanitise import IDENTITY, INPUTS, TYPED, analytic, generalise, payer_ids
from bawaba.ingest.store import LedgerEntry, Run, write_part
from bawaba.ingest.validate import CHECK, REASON, duplicates, in_words, validate
from bawaba.reference import Reference

Step = str
Progress = Callable[[str, str], None]
"""Called with (department, step) as each step starts."""

# Rows read at a time. RSS grows by about 1 kB per raw row of a batch; below this, parsing
# no longer keeps both cores busy.
BATCH_ROWS = 300_000
REFERENCE = "reference"


@dataclass
class DepartmentResult:
    department: str
    raw: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    files: int = 0
    revised: list[dict[str, object]] = field(default_factory=list)
    """Corrected re-deliveries: each file, and how many accepted rows of its earlier
    delivery its rows replace."""
    broken_files: list[dict[str, object]] = field(default_factory=list)
    """Files quarantined whole (``intact.Broken``); their ``rows`` are in raw and
    quarantined, under the reason ``unreadable_file``."""
    watermark: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def balanced(self) -> bool:
        """Nothing lost, nothing silent: every raw row is accounted for exactly once."""
        return self.raw == self.accepted + self.quarantined + self.duplicates


@dataclass
class Checked:
    """A department's counts so far, and its valid rows generalised, batch by batch."""

    result: DepartmentResult
    valid: list[pl.DataFrame]
    revised: dict[str, LedgerEntry] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Valid rows held in memory until the department is finished."""
        return sum(frame.height for frame in self.valid)


@contextmanager
def step(department: str, name: Step, progress: Progress | None) -> Iterator[None]:
    """Wraps any failure with the department and the step that failed."""
    if progress is not None:
        progress(department, name)
    try:
        yield
    except PipelineStepFailed:
        raise
    except Exception as error:
        raise PipelineStepFailed(department, name, error) from error


def check(
    pipeline: Pipeline,
    run: Run,
    *,
    reference: Reference,
    pulled: Pulled,
    progress: Progress | None = None,
) -> Checked:
    """Reads, validates, quarantines and generalises what ``pulled`` found.

    A file that cannot be read whole is quarantined whole first (``intact``); the rest
    go on."""
    dept, fmt = pipeline.department, pipeline.format
    result = DepartmentResult(dept, files=len(pulled.files), watermark=pulled.watermark)
    reasons: Counter[str] = Counter()
    with step(dept, "read", progress):
        files = quarantine.set_aside_broken(pipeline, run, pulled, result, reasons)
    checked = Checked(result, [], dict(pulled.revised))
    result.revised = [
        {"file": name, "replaced_rows": entry.rows} for name, entry in pulled.revised.items()
    ]
    if not files and not pulled.rejected:
        return checked

    with step(dept, "read", progress):
        frames = read.canonical_files(fmt, files)
        batches = read.batches(fmt, files, BATCH_ROWS) if files else []
    quarantined: list[pl.DataFrame] = []
    for batch in batches:
        with step(dept, "validate", progress):
            lazy = validate(read.numbered(frames[batch], result.raw), fmt, dept, reference)
            rows = lazy.select(read.ROW, CHECK, REFERENCE, read.FILE, *INPUTS, *TYPED).collect()
            bad = in_words(rows.filter(pl.col(CHECK).is_not_null()).select(read.ROW, CHECK))
        if bad.height:
            with step(dept, "quarantine", progress):
                # Streamed: only the few rejected rows are ever whole in memory.
                raw_rows = read.scan_raw_rows(fmt, files[batch], offset=result.raw)
                rejected = raw_rows.join(bad.lazy(), on=read.ROW, how="inner")
                quarantined.append(rejected.collect(engine="streaming"))
        with step(dept, "sanitise", progress):
            good = rows.filter(pl.col(CHECK).is_null())
            generalised = generalise(good, department=dept, reference=reference)
            checked.valid.append(
                generalised.with_columns(
                    good.get_column(REFERENCE), good.get_column(read.FILE).cast(pl.Categorical())
                )
            )
        reasons.update(bad.get_column(REASON).to_list())
        result.raw += rows.height
    if pulled.rejected:
        quarantined.append(quarantine.not_objects(pulled.rejected, offset=result.raw))
        reasons["not_an_object"] += len(pulled.rejected)
        result.raw += len(pulled.rejected)

    result.quarantined += sum(frame.height for frame in quarantined)
    result.reasons = dict(sorted(reasons.items()))
    if quarantined:
        with step(dept, "quarantine", progress):
            quarantine.stage_rows(pipeline, run, files, quarantined)
    return checked


def finish(
    checked: Checked, run: Run, *, key: bytes, progress: Progress | None = None
) -> DepartmentResult:
    """Drops re-deliveries, draws payer ids and stages the analytic part.

    Payer ids are drawn here and nowhere else, one department at a time in the run's order;
    if this fails, the ids it drew are forgotten before the next department draws any.
    """
    started = time.perf_counter()
    result, dept = checked.result, checked.result.department
    payers_before = run.payers.size
    try:
        with step(dept, "sanitise", progress):
            rows = pl.concat(checked.valid) if checked.valid else None
            checked.valid.clear()
            if rows is not None:
                repeated = duplicates(rows.get_column(REFERENCE))
                result.duplicates = int(repeated.sum())
                accepted = rows.filter(~repeated).drop(REFERENCE)
                del rows
                run.staged_ranges[dept] = revise.ranges(accepted.get_column(read.FILE))
                accepted = accepted.drop(read.FILE)
                payer_id = payer_ids(accepted.get_column(IDENTITY), key=key, payers=run.payers)
                out = analytic(accepted.drop(IDENTITY), payer_id, dept)
                result.accepted = out.height
                if out.height:
                    target = run.stage_path("parts", f"{dept}.parquet")
                    write_part(out, target)
                    run.staged_parts[dept] = target
            if checked.revised:
                run.staged_rewrites[dept] = revise.stage_rewrites(run, dept, checked.revised)
    except Exception:
        run.payers.truncate(payers_before)
        raise
    result.seconds += time.perf_counter() - started
    return result
