"""Cells with the statistics disclosure control needs.

For each cell: its transactions, its distinct payers, its amount, and the two largest
per-payer sums (a company's branches are already one payer upstream), from which the p% rule
is judged. Amounts are summed in fils (exact integers) and published in AED.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

AMOUNT = "amount_aed"


def per_payer(rows: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """One row per cell and payer: the payer's transactions (``_n``) and sum (``_fils``)."""
    return rows.group_by(*keys, "payer_id").agg(
        pl.len().alias("_n"), pl.col("amount_fils").sum().alias("_fils")
    )


def cube(
    rows: pl.LazyFrame,
    keys: Sequence[str],
    *,
    count: str = "transactions",
    amount: str | None = AMOUNT,
    per_payer_rows: bool = False,
) -> pl.LazyFrame:
    """Group ``rows`` into cells by ``keys`` with counts, payers and amount statistics.

    ``per_payer_rows``: ``rows`` are :func:`per_payer`'s already (a builder that reads them
    too groups the analytic rows by payer only once)."""
    payers = rows if per_payer_rows else per_payer(rows, keys)
    keys = list(keys)
    aggregates = [pl.col("_n").sum().alias(count), pl.len().cast(pl.Int64()).alias("payers")]
    if amount is not None:
        # top_k's result is unordered: the second largest is the smaller of the top two.
        second = pl.when(pl.len() > 1).then(pl.col("_fils").top_k(2).min()).otherwise(0)
        aggregates += [
            pl.col("_fils").sum().alias("_amount_fils"),
            pl.col("_fils").max().alias("_top1"),
            second.alias("_top2"),
        ]
    cells = payers.group_by(keys).agg(*aggregates)
    if amount is None:
        return cells.with_columns(pl.col(count).cast(pl.Int64()))
    return cells.with_columns(
        pl.col(count).cast(pl.Int64()),
        to_aed(pl.col("_amount_fils")).alias(amount),
        to_aed(pl.col("_top1")).alias(f"{amount}_top1"),
        to_aed(pl.col("_top2")).alias(f"{amount}_top2"),
    ).drop("_amount_fils", "_top1", "_top2")


def contributor_tops(rows: pl.LazyFrame, keys: Sequence[str], contributor: str) -> pl.LazyFrame:
    """Per cell, the two largest sums of one ``contributor`` (a bank) over the rows that
    name one, as ``amount_aed_<contributor>_top1`` and ``_top2`` (0 when there is none)."""
    sums = (
        rows.filter(pl.col(contributor).is_not_null())
        .group_by(*keys, contributor)
        .agg(pl.col("amount_fils").sum().alias("_fils"))
    )
    second = pl.when(pl.len() > 1).then(pl.col("_fils").top_k(2).min()).otherwise(0)
    return sums.group_by(*keys).agg(
        to_aed(pl.col("_fils").max()).alias(f"{AMOUNT}_{contributor}_top1"),
        to_aed(second).alias(f"{AMOUNT}_{contributor}_top2"),
    )


def with_contributor_tops(
    cells: pl.LazyFrame, rows: pl.LazyFrame, keys: Sequence[str], contributor: str
) -> pl.LazyFrame:
    """``cells`` with :func:`contributor_tops` joined on (zero in a cell with none)."""
    tops = contributor_tops(rows, keys, contributor)
    columns = [f"{AMOUNT}_{contributor}_top1", f"{AMOUNT}_{contributor}_top2"]
    zero = pl.lit(0).cast(pl.Decimal(18, 2))
    return cells.join(tops, on=list(keys), how="left").with_columns(
        pl.col(c).fill_null(zero) for c in columns
    )


def to_aed(fils: pl.Expr) -> pl.Expr:
    """Fils to AED as an exact decimal with two places."""
    return (fils.cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2))
