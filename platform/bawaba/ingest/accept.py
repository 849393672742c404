"""A department's valid rows, a piece at a time, into its part of the store.

Each piece handed in is finished at once: re-deliveries dropped (``SeenReferences``), payer
ids drawn in order of first appearance, rows written to the department's staged part as
row groups. Nothing of the department is held but the row group being filled and the
hashes of its references, so memory does not grow with the department.

A part keeps the order of the files its rows came from, each file's rows contiguous (the
ledger's ranges, ``revise``), and sorts each piece's rows of a file by time, so that a
row group covers a few days and readers filtering on dates skip most of a part.

Payer ids are drawn one department at a time in the run's order: a runner hands all of a
department's pieces to one ``Accepting`` before the next department's, and if accepting
fails (or the department fails before all its pieces are in), the ids it drew are forgotten
before the next department draws any.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bawaba.ingest import read
from bawaba.ingest.sanitise import IDENTITY, analytic, payer_ids
from bawaba.ingest.seen import SeenReferences
from bawaba.ingest.store import ROW_GROUP_ROWS, Range, Run, check_part_schema, part_writer

REFERENCE = "reference"


class Accepting:
    """One department's accepted rows of one run, written as they come."""

    def __init__(self, run: Run, department: str, key: bytes) -> None:
        self.run, self.department, self._key = run, department, key
        self.accepted = 0
        self.duplicates = 0
        self.ranges: dict[str, Range] = {}
        self._seen = SeenReferences()
        self._payers_before: int | None = None
        self._filling: list[pl.DataFrame] = []
        self._writer: pq.ParquetWriter | None = None
        self._target = run.stage_path("parts", f"{department}.parquet")
        self.seconds = 0.0
        self._failure: Exception | None = None

    def begin(self) -> None:
        """Marks where this department's payer ids start: called when its turn comes."""
        self._payers_before = self.run.payers.size

    def add(self, valid: pl.DataFrame) -> None:
        """Finishes one piece of valid rows (``generalise`` columns, ``reference`` and
        ``_file``), in the order of the department's delivery. A failure is raised by
        ``close``; the pieces after it are ignored."""
        if self._failure is not None:
            return
        started = time.perf_counter()
        try:
            first = self._seen.first_seen(valid.get_column(REFERENCE))
            self.duplicates += valid.height - int(first.sum())
            accepted = valid.filter(first).drop(REFERENCE)
            payer_id = payer_ids(
                accepted.get_column(IDENTITY), key=self._key, payers=self.run.payers
            )
            out = analytic(accepted.drop(IDENTITY), payer_id, self.department)
            files = accepted.get_column(read.FILE)
            order = accepted.select(
                pl.arg_sort_by(read.FILE, "txn_date", "txn_hour", maintain_order=True)
            ).to_series()
            self._place(files.gather(order))
            self._fill(out[order])
        except Exception as error:
            self.abort()
            self._failure = error
        self.seconds += time.perf_counter() - started

    def _place(self, files: pl.Series) -> None:
        """Extends each file's range with its rows of this piece, which follow those of
        the piece before."""
        for run in files.cast(pl.String()).rle().to_list():
            name, rows = str(run["value"]), int(run["len"])
            first, before = self.ranges.get(name, (self.accepted, 0))
            assert first + before == self.accepted, f"rows of {name} are not contiguous"
            self.ranges[name] = (first, before + rows)
            self.accepted += rows

    def _fill(self, rows: pl.DataFrame) -> None:
        self._filling.append(rows)
        filled = sum(frame.height for frame in self._filling)
        if filled >= ROW_GROUP_ROWS:
            whole = pl.concat(self._filling)
            cut = filled - filled % ROW_GROUP_ROWS
            self._write(whole.head(cut))
            self._filling = [whole.tail(filled - cut)]

    def _write(self, rows: pl.DataFrame) -> None:
        check_part_schema(rows)
        table = rows.to_arrow()
        if self._writer is None:
            self._writer = part_writer(self._target, table.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def close(self) -> Path | None:
        """Writes the last rows; the staged part, or None when nothing was accepted."""
        if self._failure is not None:
            raise self._failure
        try:
            rest = [frame for frame in self._filling if frame.height]
            if rest:
                self._write(pl.concat(rest))
            self._filling = []
            if self._writer is None:
                return None
            self._writer.close()
            self._writer = None
            return self._target
        except Exception:
            self.abort()
            raise

    def abort(self) -> None:
        """Forgets what this department drew and wrote."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._target.unlink(missing_ok=True)
        self._filling = []
        if self._payers_before is not None:
            self.run.payers.truncate(self._payers_before)
            self._payers_before = None
