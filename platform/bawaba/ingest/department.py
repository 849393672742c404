"""One department's new data through the engine, a piece at a time.

``check`` reads the landed files a piece at a time (``read.pieces``): read -> validate ->
quarantine -> sanitise, handing each piece's valid rows, generalised and compact, to
``deliver`` as soon as they are ready; an ``accept.Accepting`` finishes them (drops
re-deliveries, draws payer ids, writes the part). Memory is bounded by the piece, not by
the file or the department: raw text costs several hundred bytes a row.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bawaba.errors import PipelineStepFailed
from bawaba.ingest import quarantine, read, revise
from bawaba.ingest.accept import REFERENCE, Accepting
from bawaba.ingest.connectors import Pulled
from bawaba.ingest.declarations import ExportFormat, Pipeline
from bawaba.ingest.sanitise import INPUTS, TYPED, generalise
from bawaba.ingest.store import LedgerEntry, Run
from bawaba.ingest.validate import CHECK, REASON, in_words, validate
from bawaba.reference import Reference

Step = str
Progress = Callable[[str, str], None]
"""Called with (department, step) as each step starts."""

# Rows read at a time. A piece of JSON lines costs about 4 kB a row while it is checked
# (its text, parsed, stripped and typed), and the piece is most of an ingest's peak memory;
# past a few tens of thousands of rows, larger pieces buy no CPU time worth measuring.
BATCH_ROWS = 50_000


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
    """A department's counts, its valid rows handed on, and what its files revise."""

    result: DepartmentResult
    revised: dict[str, LedgerEntry] = field(default_factory=dict)


Deliver = Callable[[pl.DataFrame], None]
"""Takes one piece of valid rows, generalised (``accept.Accepting.add``)."""


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


def _chunks(fmt: ExportFormat, files: list[Path], rows: int) -> Iterator[list[read.Piece]]:
    """Consecutive pieces of ``files`` of about ``rows`` rows in all."""
    chunk: list[read.Piece] = []
    size = 0
    for path in files:
        for piece in read.pieces(fmt, path, rows):
            chunk.append(piece)
            size += piece.rows.height
            if size >= rows:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


def check(
    pipeline: Pipeline,
    run: Run,
    *,
    reference: Reference,
    pulled: Pulled,
    deliver: Deliver,
    progress: Progress | None = None,
) -> Checked:
    """Reads, validates, quarantines and generalises what ``pulled`` found, handing each
    piece's valid rows to ``deliver`` in the order delivered.

    A file that cannot be read whole is quarantined whole first (``intact``); the rest
    go on."""
    dept, fmt = pipeline.department, pipeline.format
    result = DepartmentResult(dept, files=len(pulled.files), watermark=pulled.watermark)
    reasons: Counter[str] = Counter()
    with step(dept, "read", progress):
        files = quarantine.set_aside_broken(pipeline, run, pulled, result, reasons)
    checked = Checked(result, dict(pulled.revised))
    result.revised = [
        {"file": name, "replaced_rows": entry.rows} for name, entry in pulled.revised.items()
    ]
    if not files and not pulled.rejected:
        return checked

    with step(dept, "read", progress):
        read.check_headers(fmt, files)
        names = pl.Enum([path.name for path in files])
        rejected = quarantine.Rejected(pipeline, run, files, records=bool(pulled.rejected))
    chunks = _chunks(fmt, files, BATCH_ROWS)
    while True:
        with step(dept, "read", progress):
            chunk = next(chunks, None)
        if chunk is None:
            break
        with step(dept, "validate", progress):
            canonical = read.numbered([read.canonical(fmt, p, names) for p in chunk], result.raw)
            lazy = validate(canonical, fmt, dept, reference)
            rows = lazy.select(read.ROW, CHECK, REFERENCE, read.FILE, *INPUTS, *TYPED).collect()
            bad = in_words(rows.filter(pl.col(CHECK).is_not_null()).select(read.ROW, CHECK))
        if bad.height:
            with step(dept, "quarantine", progress):
                delivered = read.numbered(
                    [read.as_delivered(p) for p in chunk], result.raw, diagonal=True
                )
                rejected.add(delivered.join(bad.lazy(), on=read.ROW, how="inner").collect())
        del chunk
        with step(dept, "sanitise", progress):
            good = rows.filter(pl.col(CHECK).is_null())
            generalised = generalise(good, department=dept, reference=reference)
            valid = generalised.with_columns(good.get_column(REFERENCE), good.get_column(read.FILE))
        deliver(valid)
        reasons.update(bad.get_column(REASON).to_list())
        result.raw += rows.height
    if pulled.rejected:
        rejected.add(quarantine.not_objects(pulled.rejected, offset=result.raw))
        reasons["not_an_object"] += len(pulled.rejected)
        result.raw += len(pulled.rejected)

    result.quarantined += rejected.rows
    result.reasons = dict(sorted(reasons.items()))
    with step(dept, "quarantine", progress):
        rejected.close()
    return checked


def finish(
    checked: Checked, accepting: Accepting, run: Run, *, progress: Progress | None = None
) -> DepartmentResult:
    """Closes the department's part once all its pieces are accepted, and stages the
    rewrites of the parts its revisions replace rows of."""
    started = time.perf_counter()
    result, dept = checked.result, checked.result.department
    with step(dept, "sanitise", progress):
        try:
            part = accepting.close()
            result.accepted, result.duplicates = accepting.accepted, accepting.duplicates
            if part is not None:
                run.staged_parts[dept] = part
            run.staged_ranges[dept] = accepting.ranges
            if checked.revised:
                run.staged_rewrites[dept] = revise.stage_rewrites(run, dept, checked.revised)
        except Exception:
            accepting.abort()
            raise
    result.seconds += accepting.seconds + time.perf_counter() - started
    return result
