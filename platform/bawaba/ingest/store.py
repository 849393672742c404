"""The analytic store: sanitised transactions as Parquet, one part per department per run.

``var/store/manifest.json`` is the single source of truth: it lists the live parts, the
rows revisions took out of them, the payer index, the connectors' watermarks and file
ledger, and the runs. A run stages every
file it produces, then commits by moving them into place and replacing the manifest in one
``os.replace``; until that moment the previous state is what every reader sees, and a run
killed at any point leaves only unreferenced files, swept away by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from pydantic import BaseModel

from bawaba.errors import BawabaError
from bawaba.fsutil import fsync_dir, write_atomic
from bawaba.ingest.contract import ANALYTIC_SCHEMA
from bawaba.ingest.payers import PayerIndex
from bawaba.settings import Settings

MANIFEST = "manifest.json"


class LedgerEntry(BaseModel):
    """A landed file that has been ingested: never read twice."""

    size: int
    mtime_ns: int
    sha256: str
    manifest: str | None = None
    """The SHA-256 of the delivery manifest beside it (``intact``), if there was one."""
    quarantined: bool = False
    placed: bool = False
    """Whether ``part``, ``offset`` and ``rows`` say where its accepted rows are (ledgers
    written before revisions existed do not)."""
    part: str | None = None
    offset: int = 0
    rows: int = 0
    """Quarantined whole (``intact``): a corrected file of the same name is a new delivery."""


class RunSummary(BaseModel):
    run_id: str
    started_at: str
    finished_at: str
    departments: dict[str, dict[str, object]]


class StoreState(BaseModel):
    parts: dict[str, list[str]] = {}
    """Department -> part files, relative to the store folder."""
    payer_index: str | None = None
    """Relative to the var folder: S1's private state lives outside the store."""
    watermarks: dict[str, int] = {}
    ledger: dict[str, dict[str, LedgerEntry]] = {}
    """Department -> landed file name -> what was ingested."""
    retracted: dict[str, list[str]] = {}
    """Department -> the rows revisions took out of its parts (:func:`retracted_name`), kept
    because a release may have published them: until a publish takes a revision in, what
    it published before is republished as it was (``publish.revisions``)."""
    runs: list[RunSummary] = []


class StoreBusy(BawabaError):
    slug = "store-busy"


# Row groups of about a few days of a large department, so that readers filtering on dates
# skip most of a part.
ROW_GROUP_ROWS = 131_072
# Columns with too many distinct values for a dictionary to pay: written plain at once.
PLAIN = ("payer_id", "amount_fils")


def check_part_schema(frame: pl.DataFrame) -> None:
    """Analytic rows: ``contract.ANALYTIC_SCHEMA``, text columns possibly as enums."""
    for (name, dtype), (expected, published) in zip(
        frame.schema.items(), ANALYTIC_SCHEMA.items(), strict=True
    ):
        assert name == expected, f"column {name} where {expected} belongs"
        assert dtype == published or (published == pl.String() and isinstance(dtype, pl.Enum))


def part_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer of a part, to which analytic rows are written a row group at a time.

    An enum goes to Parquet as the dictionary-encoded text it stands for, without the Arrow
    schema that would read it back as an enum: readers see plain text, and the writer skips
    building a dictionary of every text column anew, the costliest part of writing a part.
    """
    return pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        use_dictionary=[name for name in ANALYTIC_SCHEMA if name not in PLAIN],
        store_schema=False,
    )


def write_part(frame: pl.DataFrame, path: Path) -> None:
    """Write analytic rows (``check_part_schema``) as one part."""
    check_part_schema(frame)
    table = frame.to_arrow()
    with part_writer(path, table.schema) as writer:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)


Range = tuple[int, int]
"""(first row, rows) of a file's accepted rows in its part."""


@dataclass
class Rewrite:
    """A part that loses the rows of revised files: its staged replacement, or None when
    nothing of it is left."""

    part: str
    staged: Path | None
    removed: list[Range] = field(default_factory=list)
    retracted: Path | None = None
    """The rows taken out, staged (None when there were none)."""


def rewritten_name(part: str, run_id: str) -> str:
    """Where a rewritten part goes; :func:`run_of` still names the run of its rows."""
    return f"{part.removesuffix('.parquet')}~{run_id}.parquet"


def retracted_name(part: str, run_id: str) -> str:
    """Where the rows run ``run_id`` took out of ``part`` go: beside the store's live parts,
    named as the rewritten part, so :func:`run_of` names the run that committed them and
    :func:`retracted_by` the run that took them out."""
    return rewritten_name(part, run_id).replace("transactions/", "retracted/", 1)


def retracted_by(part: str) -> str:
    """The run that took out the rows of ``part`` (a :func:`retracted_name`)."""
    return part.removesuffix(".parquet").rsplit("~", 1)[1]


def shifted(entry: LedgerEntry, rewrite: Rewrite, new_part: str | None) -> LedgerEntry:
    """A kept file's ledger entry once ``rewrite`` dropped the rows before it."""
    before = sum(n for first, n in rewrite.removed if first < entry.offset)
    return entry.model_copy(update={"part": new_part, "offset": entry.offset - before})


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def read_state(settings: Settings) -> StoreState:
    path = settings.store_dir / MANIFEST
    if not path.exists():
        return StoreState()
    return StoreState.model_validate_json(path.read_bytes())


def scan_store(settings: Settings, departments: list[str] | None = None) -> pl.LazyFrame:
    """Every committed analytic row (of the departments named, or all)."""
    state = read_state(settings)
    parts = [
        settings.store_dir / part
        for dept, dept_parts in sorted(state.parts.items())
        if departments is None or dept in departments
        for part in dept_parts
    ]
    if not parts:
        return pl.LazyFrame(schema=ANALYTIC_SCHEMA)
    return pl.scan_parquet([str(p) for p in parts])


def part_name(department: str, run_id: str) -> str:
    """Where run ``run_id`` stores ``department``'s rows, under the store folder."""
    return f"transactions/{department}/part-{run_id}.parquet"


def run_of(part: str) -> str:
    """The run that wrote ``part`` (a :func:`part_name`)."""
    return part.rsplit("part-", 1)[1].removesuffix(".parquet").split("~")[0]


@dataclass
class Run:
    """One ingestion run's staged output, committed all at once or not at all."""

    settings: Settings
    run_id: str
    state: StoreState
    payers: PayerIndex
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    staged_parts: dict[str, Path] = field(default_factory=dict)
    staged_landing: dict[str, list[Path]] = field(default_factory=dict)
    staged_ranges: dict[str, dict[str, Range]] = field(default_factory=dict)
    """Department -> landed file -> where its accepted rows are in the staged part."""
    staged_rewrites: dict[str, list[Rewrite]] = field(default_factory=dict)
    staged_quarantine: dict[str, list[Path]] = field(default_factory=dict)
    """Department -> files under ``staging/quarantine``, kept at the same place under the
    run's quarantine folder."""

    @property
    def staging(self) -> Path:
        return self.settings.store_dir / ".staging" / self.run_id

    def stage_path(self, *parts: str) -> Path:
        path = self.staging.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(
        self,
        departments: dict[str, dict[str, object]],
        watermarks: dict[str, int],
        ledger: dict[str, dict[str, LedgerEntry]],
    ) -> StoreState:
        """Move staged files into place and switch the manifest; returns the new state."""
        settings = self.settings
        state = self.state.model_copy(deep=True)
        for dept, staged in sorted(self.staged_parts.items()):
            relative = part_name(dept, self.run_id)
            _move(staged, settings.store_dir / relative)
            state.parts.setdefault(dept, []).append(relative)
        for dept, files in self.staged_landing.items():
            for staged in files:
                _move(staged, settings.landing_dir / dept / staged.name)
        quarantine = self.staging / "quarantine"
        for files in self.staged_quarantine.values():
            for staged in files:
                _move(
                    staged, settings.quarantine_dir / self.run_id / staged.relative_to(quarantine)
                )
        if self.payers.size and self.staged_parts:
            index = settings.var_dir / "pseudonyms" / f"payers-{self.run_id}.parquet"
            index.parent.mkdir(parents=True, exist_ok=True)
            self.payers.write(index)
            state.payer_index = str(index.relative_to(settings.var_dir))
        state.watermarks.update(watermarks)
        for dept, entries in ledger.items():
            state.ledger.setdefault(dept, {}).update(self._placed(dept, entries))
        # After the ledger update: a broken revision's entry keeps its earlier rows' place,
        # which a rewrite may move.
        for dept, rewrites in self.staged_rewrites.items():
            self._swap_in(state, dept, rewrites)
        state.runs.append(
            RunSummary(
                run_id=self.run_id,
                started_at=self.started_at,
                finished_at=datetime.now(UTC).isoformat(),
                departments=departments,
            )
        )
        write_atomic(
            settings.store_dir / MANIFEST,
            orjson.dumps(state.model_dump(mode="json"), option=orjson.OPT_INDENT_2),
        )
        return state

    def _swap_in(self, state: StoreState, department: str, rewrites: list[Rewrite]) -> None:
        """Replace the parts revisions rewrote, and move the kept files' ranges with them."""
        parts, entries = state.parts[department], state.ledger.setdefault(department, {})
        for rewrite in rewrites:
            new_part = None
            index = parts.index(rewrite.part)
            if rewrite.staged is None:
                del parts[index]
            else:
                new_part = rewritten_name(rewrite.part, self.run_id)
                _move(rewrite.staged, self.settings.store_dir / new_part)
                parts[index] = new_part
            for name, entry in entries.items():
                if entry.part == rewrite.part:
                    entries[name] = shifted(entry, rewrite, new_part)
            if rewrite.retracted is not None:
                retracted = retracted_name(rewrite.part, self.run_id)
                _move(rewrite.retracted, self.settings.store_dir / retracted)
                state.retracted.setdefault(department, []).append(retracted)

    def _placed(self, department: str, entries: dict[str, LedgerEntry]) -> dict[str, LedgerEntry]:
        """``entries`` with where this run put their accepted rows."""
        part = part_name(department, self.run_id) if department in self.staged_parts else None
        spans = self.staged_ranges.get(department, {})
        placed: dict[str, LedgerEntry] = {}
        for name, entry in entries.items():
            first, rows = spans.get(name, (0, 0))
            where = {"part": part if name in spans else None, "offset": first, "rows": rows}
            # A file quarantined whole put no rows here; it says where its earlier rows are.
            update = {"placed": True, **({} if entry.quarantined else where)}
            placed[name] = entry.model_copy(update=update)
        return placed


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source.replace(target)
    fsync_dir(target.parent)


def sweep(settings: Settings, state: StoreState) -> None:
    """Remove what killed runs left behind: staging folders and unreferenced files.

    A run killed during its commit may have moved its quarantine into place without
    switching the manifest: those rows hold raw personal data and will be quarantined
    again by the rerun, so a quarantine folder of no committed run goes."""
    shutil.rmtree(settings.store_dir / ".staging", ignore_errors=True)
    committed = {run.run_id for run in state.runs}
    if settings.quarantine_dir.is_dir():
        for folder in settings.quarantine_dir.iterdir():
            if folder.is_dir() and folder.name not in committed:
                shutil.rmtree(folder)
    kept = [*state.parts.values(), *state.retracted.values()]
    live = {settings.store_dir / p for parts in kept for p in parts}
    for kind in ("transactions", "retracted"):
        for part in (settings.store_dir / kind).glob("*/*.parquet"):
            if part not in live:
                part.unlink()
    current = settings.var_dir / state.payer_index if state.payer_index else None
    for index in (settings.var_dir / "pseudonyms").glob("payers-*.parquet"):
        if index != current:
            index.unlink()


@contextlib.contextmanager
def open_run(settings: Settings) -> Iterator[Run]:
    """A run holding the store's lock; its staging is removed whatever happens."""
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    with (settings.store_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(
                "another ingestion run holds the store", hint="wait for it to finish"
            ) from None
        state = read_state(settings)
        sweep(settings, state)
        index_path = settings.var_dir / state.payer_index if state.payer_index else None
        run = Run(settings, new_run_id(), state, PayerIndex.read(index_path))
        try:
            yield run
        finally:
            shutil.rmtree(run.staging, ignore_errors=True)
