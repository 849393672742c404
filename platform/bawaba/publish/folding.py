"""Folding rare e-services into ``<DEPT>-OTHER`` so that fine-grained tables stay dense.

A service keeps its own code only where most of its day-by-channel cells would have enough
distinct payers to publish; the rest of a department's services are published together.
One fold map serves the whole release: tables linked through the service coordinate must
agree on it, or their margins would not match.
"""

from __future__ import annotations

import polars as pl

from bawaba.publish.populations import rows_of
from bawaba.publish.rows import decode, streamed
from bawaba.reference import other_code

# A service stands alone when at least this share of its day x channel cells reach k.
DENSE_SHARE = 0.5


def density(store: pl.LazyFrame, k: int) -> pl.DataFrame:
    """Per service seen in ``store`` (``department``, ``service`` as text): how many of its
    day x channel cells reach ``k`` payers (``dense``) of how many (``cells``). Counts of
    separate periods add up, so a store read a year at a time gives the whole's density."""
    cells = (
        rows_of(store, "epay_success")
        .group_by("department", "service", "date", "channel")
        .agg(pl.col("payer_id").n_unique().alias("payers"))
    )
    counted = cells.group_by("department", "service").agg(
        (pl.col("payers") >= k).sum().cast(pl.Int64).alias("dense"),
        pl.len().cast(pl.Int64).alias("cells"),
    )
    seen = store.select("department", "service").unique()
    return decode(
        streamed(
            seen.join(counted, on=["department", "service"], how="left").with_columns(
                pl.col("dense", "cells").fill_null(0)
            )
        )
    )


def folds_of(densities: pl.DataFrame) -> dict[str, str]:
    """Service code -> the code it is published under, for every folded service, from
    :func:`density` counts (of one store, or stacked from several periods')."""
    total = densities.group_by("department", "service").agg(pl.col("dense", "cells").sum())
    sparse = total.filter(
        (pl.col("cells") == 0) | (pl.col("dense") / pl.col("cells") < DENSE_SHARE)
    )
    return {
        service: other_code(department)
        for department, service in sparse.select("department", "service").sort("service").rows()
    }


def fold_map(store: pl.LazyFrame, k: int) -> dict[str, str]:
    """Service code -> the code it is published under, for every folded service."""
    return folds_of(density(store, k))


def apply_fold(store: pl.LazyFrame, folds: dict[str, str]) -> pl.LazyFrame:
    if not folds:
        return store
    return store.with_columns(pl.col("service").replace(folds))
