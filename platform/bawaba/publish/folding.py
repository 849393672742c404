"""Folding rare e-services into ``<DEPT>-OTHER`` so that fine-grained tables stay dense.

A service keeps its own code only where most of its day-by-channel cells would have enough
distinct payers to publish; the rest of a department's services are published together.
One fold map serves the whole release: tables linked through the service coordinate must
agree on it, or their margins would not match.
"""

from __future__ import annotations

import polars as pl

from bawaba.publish.populations import rows_of
from bawaba.publish.rows import decode
from bawaba.reference import other_code

# A service stands alone when at least this share of its day x channel cells reach k.
DENSE_SHARE = 0.5


def fold_map(store: pl.LazyFrame, k: int) -> dict[str, str]:
    """Service code -> the code it is published under, for every folded service."""
    cells = (
        rows_of(store, "epay_success")
        .group_by("department", "service", "date", "channel")
        .agg(pl.col("payer_id").n_unique().alias("payers"))
    )
    density = (
        cells.group_by("department", "service")
        .agg((pl.col("payers") >= k).mean().alias("dense"))
        .collect()
    )
    all_services = store.select("department", "service").unique().collect()
    known = all_services.join(density, on=["department", "service"], how="left")
    folded = decode(known.filter(pl.col("dense").fill_null(0) < DENSE_SHARE))
    return {
        service: other_code(department)
        for department, service in folded.select("department", "service").sort("service").rows()
    }


def apply_fold(store: pl.LazyFrame, folds: dict[str, str]) -> pl.LazyFrame:
    if not folds:
        return store
    return store.with_columns(pl.col("service").replace(folds))
