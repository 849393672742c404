"""What the disclosure-control library is given: a published table described for the audit.

A cell table is built elsewhere from the analytic rows, one row per cell. For disclosure
control it only matters where a cell sits (its coordinates), which additive quantities it
publishes, what population it covers, and the statistics the primary rules need: ``payers``
(distinct payers in the cell) and, for every amount measure ``X``, the two largest per-payer
sums ``X_top1`` and ``X_top2``. These statistics never leave S2; the caller publishes only the
catalog's columns, with every measure of a suppressed cell nulled (see :func:`redact`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from bawaba.errors import BawabaError

__all__ = [
    "PER_TRANSACTION_HIGH",
    "PER_TRANSACTION_LOW",
    "PUBLISHED_BEFORE",
    "SUPPRESSED",
    "AuditTable",
    "DisclosureError",
    "QuantityKind",
    "Unprotectable",
    "quantity_kind",
    "quantity_population",
    "redact",
    "top_columns",
]

SUPPRESSED = "suppressed"
"""The boolean output column: the cell publishes null for every measure."""

PUBLISHED_BEFORE = "published_before"
"""Optional cell column: True where an earlier version published the cell, so a reader has
its value. Such a cell is never suppressed as a complement (it would hide nothing)."""
PER_TRANSACTION_LOW = "per_transaction_low"
PER_TRANSACTION_HIGH = "per_transaction_high"
"""Optional cell columns: what a reader knows of a cell's amount per transaction from public
definitions, in AED (null: no limit). An amount band's limits, or a fixed fee twice (the
amount is then the fee times the transactions). They couple a cell's count and amount, which
the audit then bounds together."""

QuantityKind = Literal["count", "amount"]
"""count: a number of rows (transactions), at least 1 in a cell that exists and protected by
k; amount: a sum of money, at least 0 and protected by the p% rule."""


class DisclosureError(BawabaError):
    """A release cannot be protected, or its tables do not fit the relation model.

    The message names tables and cell coordinates only, never a value: it may end up in a
    log or a gate report.
    """

    slug = "disclosure"


class Unprotectable(DisclosureError):
    """A suppressed cell of ``table`` stays too narrowly bounded however much more of the
    release is suppressed: the table cannot be published beside the others."""

    def __init__(self, message: str, *, table: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.table = table


def quantity_kind(quantity: str) -> QuantityKind:
    """``"epay_success:amount"`` -> ``"amount"``; anything else but ``:count`` is refused."""
    population, _, kind = quantity.rpartition(":")
    if not population or kind not in ("count", "amount"):
        raise DisclosureError(
            f"quantity {quantity!r} is not named '<population>:count' or '<population>:amount'",
            hint="e.g. epay_success:count for transactions, epay_success:amount for AED",
        )
    return "count" if kind == "count" else "amount"


def quantity_population(quantity: str) -> str:
    """``"epay_success:amount"`` -> ``"epay_success"``."""
    quantity_kind(quantity)
    return quantity.rpartition(":")[0]


def top_columns(measure: str, contributor: str | None = None) -> tuple[str, str]:
    """The columns holding the largest and second-largest per-payer sum of ``measure``, or
    per ``contributor`` (``"bank"``: per-bank sums)."""
    stem = measure if contributor is None else f"{measure}_{contributor}"
    return f"{stem}_top1", f"{stem}_top2"


@dataclass(frozen=True)
class AuditTable:
    """One published table, as the disclosure audit sees it.

    ``coordinates`` includes the coarser coordinates a reader can derive (a monthly table
    carries month, quarter and year; a table by service also carries department): tables are
    linked on the coordinates they share, so a missing derived one hides a relation.
    """

    name: str
    """The dataset id; unique within a release."""
    cells: pl.DataFrame
    """Coordinates, measures, ``payers``, ``<amount measure>_top1/_top2``, and optionally the
    boolean ``suppressed`` column (absent means nothing is suppressed yet)."""
    coordinates: tuple[str, ...]
    quantities: Mapping[str, str]
    """Audited quantity -> measure column, e.g. ``{"epay_success:count": "transactions"}``."""
    restriction: Mapping[str, str] = field(default_factory=dict)
    """The table covers only rows with these values, e.g. ``{"payment_method": "direct_debit"}``."""
    k: int = 10
    p: float = 15.0
    protected: bool = False
    """Chosen for secondary suppression only when no unprotected cell will do (headline
    tables such as annual totals; never a cell published before); its cells are still
    suppressed when they are sensitive themselves."""
    population: str | None = None
    """The population whose rows make a cell exist, so its count is at least 1 in every
    published row. ``None``: the quantities' population when they all share one; for a table
    mixing populations (attempts and payments) no count is assumed positive."""
    contributors: tuple[str, ...] = ()
    """Contributors besides payers that the p% rule protects, e.g. ``("bank",)``: for every
    amount measure ``X`` the cells then carry ``X_bank_top1`` and ``X_bank_top2``, the two
    largest sums of one bank in the cell (banks are organisations, PRIVACY.md S1)."""
    sub_payers: Mapping[str, str] = field(default_factory=dict)
    """A sub-population counted in the cell (by its measure, or by the count it derives:
    failures = attempts - payments) -> the column of its distinct payers, e.g.
    ``{"refunds": "refund_payers"}``. Every such count is a cell of its own and meets k
    (0 payers, no such rows, is no disclosure)."""
    as_published: bool = False
    """A version readers already have, audited beside the release because its table is
    withheld from it (its earlier version stays public): the cells' suppression is the one
    published, so it is neither added to nor taken from; set ``protected`` too."""
    covers_until: int | None = None
    """The last month (``YYYYMM``) such a version covers when it stops before the release:
    a period ending later is not its sum, so no relation group spans one."""

    @property
    def suppressed(self) -> pl.Series:
        """The suppression flag of every cell (all false when the column is absent)."""
        if SUPPRESSED in self.cells.columns:
            return self.cells.get_column(SUPPRESSED).fill_null(value=False).cast(pl.Boolean)
        return pl.Series(SUPPRESSED, [False] * self.cells.height, dtype=pl.Boolean)

    @property
    def amount_measures(self) -> tuple[str, ...]:
        """The measure columns of the amount quantities, in quantity order."""
        return tuple(m for q, m in sorted(self.quantities.items()) if quantity_kind(q) == "amount")

    @property
    def coupled(self) -> bool:
        """Does a reader know amount limits per transaction for some of its cells?"""
        return PER_TRANSACTION_LOW in self.cells.columns

    @property
    def existence_population(self) -> str | None:
        """The population whose count is at least 1 in every cell, if the audit may assume one."""
        if self.population is not None:
            return self.population
        populations = {quantity_population(q) for q in self.quantities}
        return populations.pop() if len(populations) == 1 else None

    def with_suppressed(self, flags: pl.Series) -> AuditTable:
        """A copy whose ``suppressed`` column is ``flags`` (same length and order as cells)."""
        cells = self.cells.with_columns(flags.cast(pl.Boolean).alias(SUPPRESSED))
        return dataclasses.replace(self, cells=cells)

    def check(self) -> None:
        """Refuse a table the rules cannot be applied to, naming what is missing."""
        if self.k < 1 or not 0 <= self.p <= 100:
            raise DisclosureError(
                f"table {self.name!r} has k={self.k}, p={self.p}",
                hint="k is at least 1 and p a percentage",
            )
        if not self.quantities:
            raise DisclosureError(f"table {self.name!r} declares no audited quantity")
        needed = {*self.coordinates, "payers", *self.quantities.values(), *self.sub_payers.values()}
        for measure in self.amount_measures:
            for contributor in (None, *self.contributors):
                needed.update(top_columns(measure, contributor))
        missing = sorted(needed - set(self.cells.columns))
        if missing:
            raise DisclosureError(
                f"table {self.name!r} lacks the columns {missing}",
                hint="cell tables carry their coordinates, measures, payers and, per amount "
                "measure, <measure>_top1 and <measure>_top2",
            )
        if self.cells.height and self.cells.select(self.coordinates).is_duplicated().any():
            raise DisclosureError(
                f"table {self.name!r} has two rows for the same coordinates",
                hint="a cell table holds one row per cell",
            )


def redact(table: AuditTable) -> pl.DataFrame:
    """The cells as they may be published: every column but the coordinates and the flag is
    null in a suppressed cell. The caller still selects the catalog's columns (the
    ``_top1``/``_top2`` statistics are never published)."""
    flags = table.suppressed
    keep = {*table.coordinates, SUPPRESSED}
    return table.cells.with_columns(flags.alias(SUPPRESSED)).with_columns(
        pl.when(pl.col(SUPPRESSED)).then(None).otherwise(pl.col(c)).alias(c)
        for c in table.cells.columns
        if c not in keep
    )
