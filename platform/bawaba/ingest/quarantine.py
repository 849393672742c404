"""Quarantine: what cannot be ingested is kept whole, with its reason, for the department.

Rows a check rejects go to ``<run>/<DEPT>.parquet`` with their reason and the field it
concerns; export records that are not JSON objects go there too, as their JSON text; a file
that cannot be read whole (``intact``) is copied to ``<run>/<DEPT>/`` and listed with its
reason in ``<run>/<DEPT>.files.json``. All of it is staged and committed with the run.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bawaba.ingest import intact, read
from bawaba.ingest.connectors import Pulled
from bawaba.ingest.declarations import Pipeline
from bawaba.ingest.store import Run
from bawaba.ingest.validate import DETAIL, REASON

if TYPE_CHECKING:
    from bawaba.ingest.department import DepartmentResult

RECORD = "_record"
"""A quarantined export record's JSON text, when it is not an object with columns."""


Verdict = Callable[[Path], "intact.Broken | None"]
"""Whether a landed file can be read whole (``intact.check_file``)."""


def set_aside_broken(
    pipeline: Pipeline,
    run: Run,
    pulled: Pulled,
    result: DepartmentResult,
    reasons: Counter[str],
    verdict: Verdict | None = None,
) -> list[Path]:
    """Quarantines whole the files that cannot be read whole (as ``verdict`` says, or as
    reading each through says); returns the others.

    A broken file's readable rows count as raw and quarantined both, so the run still adds
    up; it is marked so in the ledger, so it is not quarantined again, and a corrected file
    of the same name is read as new."""
    dept, intact_files = pipeline.department, []
    for path in pulled.files:
        broken = intact.check_file(pipeline.format, path) if verdict is None else verdict(path)
        if broken is None:
            intact_files.append(path)
            continue
        copy = run.stage_path("quarantine", dept, path.name)
        shutil.copyfile(path, copy)
        run.staged_quarantine.setdefault(dept, []).append(copy)
        result.broken_files.append(asdict(broken))
        result.raw += broken.rows
        result.quarantined += broken.rows
        reasons["unreadable_file"] += broken.rows
        # A broken revision replaces nothing: the earlier delivery's rows stay, and where
        # they are stays in the ledger for the corrected delivery to replace.
        earlier = pulled.revised.pop(path.name, None)
        update: dict[str, object] = {"quarantined": True, "part": None, "rows": 0}
        if earlier is not None:
            update |= {"part": earlier.part, "offset": earlier.offset, "rows": earlier.rows}
        if path.name in pulled.ledger:
            pulled.ledger[path.name] = pulled.ledger[path.name].model_copy(update=update)
    if result.broken_files:
        listing = run.stage_path("quarantine", f"{dept}.files.json")
        listing.write_bytes(orjson.dumps(result.broken_files, option=orjson.OPT_INDENT_2))
        run.staged_quarantine[dept].append(listing)
    return intact_files


def not_objects(records: list[bytes], offset: int) -> pl.DataFrame:
    """Export records that are not JSON objects, as quarantined rows of their JSON text."""
    return pl.DataFrame(
        {
            read.ROW: range(offset, offset + len(records)),
            RECORD: [r.decode() for r in records],
            REASON: ["not_an_object"] * len(records),
            DETAIL: ["record"] * len(records),
        },
        schema={
            read.ROW: pl.UInt32(),
            RECORD: pl.String(),
            REASON: pl.String(),
            DETAIL: pl.String(),
        },
    )


class Rejected:
    """A department's rejected rows whole, with their reasons, written as they come in
    ``_row`` order to one file, as if read in one go."""

    def __init__(self, pipeline: Pipeline, run: Run, files: list[Path], *, records: bool) -> None:
        self._run, self._department = run, pipeline.department
        extra = [RECORD] if records else []
        self._columns = [*read.raw_columns(pipeline.format, files), *extra, REASON, DETAIL]
        self._target = run.stage_path("quarantine", f"{pipeline.department}.parquet")
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, rows: pl.DataFrame) -> None:
        """Rejected rows (``_row`` and some of the columns), after those added before."""
        text = [pl.col(c).cast(pl.String()) for c in self._columns if c in rows and c != read.ROW]
        missing = [pl.lit(None, pl.String()).alias(c) for c in self._columns if c not in rows]
        table = rows.with_columns(*text, *missing).select(self._columns).sort(read.ROW).to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._target, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += rows.height

    def close(self) -> None:
        """Stages the file with the run, if a row was rejected."""
        if self._writer is None:
            return
        self._writer.close()
        self._run.staged_quarantine.setdefault(self._department, []).append(self._target)
