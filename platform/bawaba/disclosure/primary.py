"""Primary suppression: the cells that are sensitive on their own.

A cell is sensitive when fewer than ``k`` distinct payers make it up (a reader could single
one out), when a count of a sub-population in it (refunds, failures) comes from 1 to ``k - 1``
payers, or when for an amount ``X`` with the two largest per-payer sums ``x1 >= x2``

    X - x1 - x2 < p/100 * x1

(the p% rule: the second-largest payer, subtracting their own sum from the published total,
would estimate the largest payer's sum to within p%), judged with payers as the contributors
and again with every other kind the table names (banks). A company's branches are one payer
upstream, so a dominating company cannot hide behind its branches. The comparison is made as
``100 * (X - x1 - x2) < p * x1`` so that the boundary is exact (0.15 * 100 is not 15 in
floating point).
"""

from __future__ import annotations

import polars as pl

from bawaba.disclosure.model import SUPPRESSED, AuditTable, top_columns

__all__ = ["primary", "sensitive", "sensitive_share"]


def sensitive(table: AuditTable) -> pl.Expr:
    """True for every cell that fails the k rule or the p% rule on one of its amounts."""
    table.check()
    rule = pl.col("payers").fill_null(0) < table.k
    for column in table.sub_payers.values():
        payers = pl.col(column).fill_null(0)
        rule = rule | ((payers > 0) & (payers < table.k))
    for measure in table.amount_measures:
        total = pl.col(measure).cast(pl.Float64)
        # A missing total is treated as sensitive: fail closed.
        rule = rule | total.is_null()
        for contributor in (None, *table.contributors):
            top1, top2 = top_columns(measure, contributor)
            x1 = pl.col(top1).cast(pl.Float64).fill_null(0.0)
            x2 = pl.col(top2).cast(pl.Float64).fill_null(0.0)
            rule = rule | (100.0 * (total - x1 - x2) < table.p * x1)
    return rule


def primary(table: AuditTable) -> AuditTable:
    """The table with every sensitive cell suppressed (earlier suppressions are kept)."""
    if table.as_published:
        return table  # a reader has its values as published: hiding one now hides nothing
    flags = table.suppressed | table.cells.select(sensitive(table)).to_series()
    return table.with_suppressed(flags.alias(SUPPRESSED))


def sensitive_share(table: AuditTable) -> float:
    """The share of cells suppressed after primary suppression (0 for an empty table).

    S2 does not publish a table above 30 %: the caller decides, this only measures.
    """
    if table.cells.height == 0:
        return 0.0
    return int(primary(table).suppressed.sum()) / table.cells.height
