"""The analytic rows as publishing reads them: compact, and streamed.

Every builder groups millions of rows by a few text dimensions. As plain strings that costs
a hash of every string of every key on every pass; as categoricals the same group-by works
on small integer codes. So the store is read with only the columns publishing uses, text
columns as categoricals (the department aside, see ``_compact``), and the run that
committed each row as a constant per part (not a file path repeated on every row).
Builders' cells are turned back into plain text by :func:`decode` before anything
downstream sees them, so the published values and types are those of the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import polars.selectors as cs

from bawaba.ingest.contract import ANALYTIC_SCHEMA
from bawaba.ingest.store import StoreState, read_state, run_of
from bawaba.settings import Settings

COLUMNS: tuple[str, ...] = (
    "department",
    "service",
    "record_type",
    "status",
    "channel",
    "electronic",
    "payment_method",
    "bank",
    "txn_date",
    "txn_hour",
    "amount_fils",
    "amount_band",
    "payer_id",
    "payer_type",
    "rating",
)
"""The analytic columns some builder, fold or revision check reads (not the places)."""


def _compact(frame: pl.LazyFrame) -> pl.LazyFrame:
    # The department stays text: a filter on it then reaches the Parquet scan, which skips
    # the row groups of other departments by their statistics (``publish.partitions``).
    text = [c for c in COLUMNS if ANALYTIC_SCHEMA[c] == pl.String() and c != "department"]
    return frame.select(COLUMNS).with_columns(pl.col(text).cast(pl.Categorical()))


def live_parts(state: StoreState) -> dict[str, str]:
    """The parts of the store's manifest ``state``, in order, each with its department."""
    return dict(sorted((part, dept) for dept, parts in state.parts.items() for part in parts))


def retracted_parts(state: StoreState) -> dict[str, str]:
    """The retracted parts of ``state`` (rows revisions took out), each with its
    department."""
    return dict(sorted((part, dept) for dept, parts in state.retracted.items() for part in parts))


def scan_rows(settings: Settings, parts: Sequence[str] | None = None) -> pl.LazyFrame:
    """Every committed analytic row (:data:`COLUMNS`, text but the department as
    categoricals) with ``run_id``, the ingestion run that committed it; only those of
    ``parts`` (of the store's manifest, live or retracted), if given."""
    if parts is None:
        parts = list(live_parts(read_state(settings)))
    run_id = pl.Categorical()
    empty = pl.LazyFrame(schema={c: ANALYTIC_SCHEMA[c] for c in COLUMNS})
    frames = [_compact(empty).with_columns(pl.lit(None, dtype=run_id).alias("run_id"))]
    for part in parts:
        frames.append(
            _compact(pl.scan_parquet(settings.store_dir / part)).with_columns(
                pl.lit(run_of(part), dtype=run_id).alias("run_id")
            )
        )
    return pl.concat(frames)


def streamed(query: pl.LazyFrame) -> pl.DataFrame:
    """``query``'s result, computed by Polars' streaming engine: the rows it reads from the
    store pass through in batches, and only the group-by's state (one entry per cell, or per
    cell and payer) is held, so what a build holds does not grow with the rows a period
    has."""
    return query.collect(engine="streaming")


def decode(cells: pl.DataFrame) -> pl.DataFrame:
    """Cells with every categorical or enum column back as plain text."""
    return cells.with_columns(cs.categorical().cast(pl.String), cs.enum().cast(pl.String))
