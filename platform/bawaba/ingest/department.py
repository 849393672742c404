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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

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
P = TypeVar("P")
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


def chunks(pieces: Iterable[P], rows: Callable[[P], int]) -> Iterator[list[P]]:
    """Consecutive ``pieces`` of about ``BATCH_ROWS`` rows in all (``rows`` of each),
    across files: the chunks a department is checked and accepted in, on a cluster too (the
    order of a part's rows follows them)."""
    chunk: list[P] = []
    size = 0
    for piece in pieces:
        chunk.append(piece)
        size += rows(piece)
        if size >= BATCH_ROWS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _pieces(fmt: ExportFormat, files: list[Path]) -> Iterator[read.Piece]:
    """The pieces of ``files``, in order, read as they are asked for."""
    for path in files:
        yield from read.pieces(fmt, path, BATCH_ROWS)


@dataclass
class CheckedRows:
    """Pieces of a department's delivery, checked: what becomes of their rows."""

    raw: int
    valid: pl.DataFrame
    """The valid rows, generalised, with ``reference`` and ``_file``, in delivery order."""
    rejected: pl.DataFrame
    """The rejected rows as delivered, with ``_row``, their reason and its field."""
    reasons: list[str]

    @classmethod
    def joined(cls, parts: list[CheckedRows], offset: int) -> CheckedRows:
        """Consecutive pieces checked apart, each numbered from 0, as one piece checked
        whole whose rows are numbered from ``offset``: checks and generalisation are row by
        row, so the rows are those of one check of them all."""
        rejected, start = [], offset
        for part in parts:
            if part.rejected.height:
                shifted = (pl.col(read.ROW) + start).cast(pl.UInt32())
                rejected.append(part.rejected.with_columns(shifted))
            start += part.raw
        return cls(
            start - offset,
            pl.concat([part.valid for part in parts]),
            pl.concat(rejected, how="diagonal") if rejected else pl.DataFrame(),
            [reason for part in parts for reason in part.reasons],
        )


def check_rows(
    pipeline: Pipeline,
    reference: Reference,
    pieces: list[read.Piece],
    names: pl.Enum,
    offset: int,
    progress: Progress | None = None,
) -> CheckedRows:
    """Validates ``pieces`` (consecutive, of the department's files ``names``), their rows
    numbered from ``offset``, and generalises the valid rows."""
    dept, fmt = pipeline.department, pipeline.format
    with step(dept, "validate", progress):
        canonical = read.numbered([read.canonical(fmt, p, names) for p in pieces], offset)
        lazy = validate(canonical, fmt, dept, reference)
        rows = lazy.select(read.ROW, CHECK, REFERENCE, read.FILE, *INPUTS, *TYPED).collect()
        bad = in_words(rows.filter(pl.col(CHECK).is_not_null()).select(read.ROW, CHECK))
    rejected = pl.DataFrame()
    if bad.height:
        with step(dept, "quarantine", progress):
            delivered = read.numbered([read.as_delivered(p) for p in pieces], offset, diagonal=True)
            rejected = delivered.join(bad.lazy(), on=read.ROW, how="inner").collect()
    with step(dept, "sanitise", progress):
        good = rows.filter(pl.col(CHECK).is_null())
        generalised = generalise(good, department=dept, reference=reference)
        valid = generalised.with_columns(good.get_column(REFERENCE), good.get_column(read.FILE))
    return CheckedRows(rows.height, valid, rejected, bad.get_column(REASON).to_list())


@dataclass
class Checking:
    """A department's delivery while it is checked: the files to read, and the counts and
    the quarantine so far (``check``, or the coordinator of its tasks on a cluster)."""

    pipeline: Pipeline
    pulled: Pulled
    checked: Checked
    files: list[Path]
    """The files that can be read whole, in delivery order."""
    rejected: quarantine.Rejected | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    @classmethod
    def begin(
        cls,
        pipeline: Pipeline,
        run: Run,
        pulled: Pulled,
        progress: Progress | None,
        verdict: quarantine.Verdict | None = None,
    ) -> Checking:
        """Sets aside whole the files that cannot be read whole (``verdict`` says which, or
        each is read through), and checks the others' headers before any row is read."""
        dept = pipeline.department
        result = DepartmentResult(dept, files=len(pulled.files), watermark=pulled.watermark)
        reasons: Counter[str] = Counter()
        with step(dept, "read", progress):
            files = quarantine.set_aside_broken(pipeline, run, pulled, result, reasons, verdict)
        checked = Checked(result, dict(pulled.revised))
        result.revised = [
            {"file": name, "replaced_rows": entry.rows} for name, entry in pulled.revised.items()
        ]
        checking = cls(pipeline, pulled, checked, files, reasons=reasons)
        if checking.has_rows:
            with step(dept, "read", progress):
                read.check_headers(pipeline.format, files)
                checking.rejected = quarantine.Rejected(
                    pipeline, run, files, records=bool(pulled.rejected)
                )
        return checking

    @property
    def has_rows(self) -> bool:
        return bool(self.files or self.pulled.rejected)

    @property
    def names(self) -> pl.Enum:
        """The files read, as the enum of ``_file``."""
        return pl.Enum([path.name for path in self.files])

    def take(self, rows: CheckedRows, deliver: Deliver, progress: Progress | None) -> None:
        """Quarantines the rejected rows of the next pieces and delivers their valid rows."""
        assert self.rejected is not None
        result = self.checked.result
        if rows.rejected.height:
            with step(result.department, "quarantine", progress):
                self.rejected.add(rows.rejected)
        deliver(rows.valid)
        self.reasons.update(rows.reasons)
        result.raw += rows.raw

    def end(self, progress: Progress | None) -> Checked:
        """Quarantines the export records that were not objects, after every row."""
        result = self.checked.result
        if self.rejected is None:
            return self.checked
        if self.pulled.rejected:
            self.rejected.add(quarantine.not_objects(self.pulled.rejected, offset=result.raw))
            self.reasons["not_an_object"] += len(self.pulled.rejected)
            result.raw += len(self.pulled.rejected)
        result.quarantined += self.rejected.rows
        result.reasons = dict(sorted(self.reasons.items()))
        with step(result.department, "quarantine", progress):
            self.rejected.close()
        return self.checked


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
    checking = Checking.begin(pipeline, run, pulled, progress)
    if not checking.has_rows:
        return checking.checked
    dept, names = pipeline.department, checking.names
    read_in = chunks(_pieces(pipeline.format, checking.files), lambda p: p.rows.height)
    while True:
        with step(dept, "read", progress):
            chunk = next(read_in, None)
        if chunk is None:
            break
        offset = checking.checked.result.raw
        rows = check_rows(pipeline, reference, chunk, names, offset, progress)
        del chunk
        checking.take(rows, deliver, progress)
    return checking.end(progress)


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
