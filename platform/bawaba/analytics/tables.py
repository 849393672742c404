"""The published tables the analytics read, and the SQL fragments shared over them.

SQL text here is built from fixed fragments and column names that the catalog declares
(checked again by ``ident``); every caller value is a ``?`` parameter. The Parquet path is
always the first parameter, as ``bawaba.serving.engine.Engine.rows`` binds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bawaba.serving.problems import BadParameter

Measure = Literal["transactions", "amount_aed"]
"""transactions: successful payments (a count); amount_aed: their amount in AED (a sum).
Both are additive; payers are not (one payer is in many cells) and are never summed."""
MEASURES: tuple[Measure, ...] = ("transactions", "amount_aed")

_MONTH = '"month"'


@dataclass(frozen=True)
class Table:
    """A published dataset as the analytics see it."""

    dataset: str
    dimensions: tuple[str, ...]
    measures: dict[str, str] = field(default_factory=dict)
    """Analytic measure -> the dataset's column holding it."""
    month: str | None = _MONTH
    """Fixed SQL giving the row's month as YYYY-MM; None for tables without months."""


EPAY_MONTHLY = Table(
    "epay-monthly",
    ("department", "channel"),
    {"transactions": "transactions", "amount_aed": "amount_aed"},
)
PAYMENT_METHODS = Table(
    "epay-payment-methods",
    ("department", "payment_method"),
    {"transactions": "transactions", "amount_aed": "amount_aed"},
)
# service-performance counts successful payments as `payments` (the same population as
# `transactions` elsewhere) and publishes no amount.
SERVICE_PERFORMANCE = Table(
    "service-performance", ("department", "service"), {"transactions": "payments"}
)
MONTHLY_SERVICE = Table(
    "epay-monthly-service",
    ("department", "service"),
    {"transactions": "transactions", "amount_aed": "amount_aed"},
)
HOURLY_PROFILE = Table(
    "epay-hourly-profile",
    ("year", "department"),
    {"transactions": "transactions", "amount_aed": "amount_aed"},
    month=None,
)
ADOPTION = Table(
    "eservice-adoption",
    ("department",),
    {"electronic": "electronic_transactions", "counter": "counter_transactions"},
    month=None,
)


def ident(name: str) -> str:
    """A catalog column name, quoted; anything else fails loudly instead of becoming SQL."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"not a catalog column name: {name!r}")
    return f'"{name}"'


def choose(candidates: Sequence[Table], measure: str, dimensions: Sequence[str]) -> Table:
    """The first (coarsest) candidate holding ``measure`` and every one of ``dimensions``;
    coarser tables are cheaper to scan and more often on a caller's plan."""
    for table in candidates:
        if measure in table.measures and set(dimensions) <= set(table.dimensions):
            return table
    offered = "; ".join(
        f"{t.dataset}: measures {', '.join(t.measures)}, dimensions {', '.join(t.dimensions)}"
        for t in candidates
    )
    raise BadParameter(
        f"no published table holds {measure!r} by {', '.join(dimensions) or 'nothing'}",
        hint=f"the tables this indicator reads are: {offered}",
    )


def where(filters: dict[str, tuple[object, ...]]) -> tuple[str, list[object]]:
    """``WHERE col IN (?, …) AND …`` over whole members; an empty dict selects every row."""
    clauses = [
        f"{ident(column)} IN ({', '.join('?' for _ in values)})"
        for column, values in filters.items()
    ]
    params = [value for values in filters.values() for value in values]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def published(*columns: str) -> str:
    """True for a cell whose measures were published: not flagged and not empty. A
    suppressed cell is counted, never summed and never imputed."""
    present = " AND ".join(f"{ident(c)} IS NOT NULL" for c in columns)
    return f'(NOT coalesce("suppressed", false) AND {present})'


def value_type(measure: str) -> str:
    """The SQL type a sum of ``measure`` is returned as: counts stay whole (DuckDB sums them
    to 128 bits, which JSON encoders refuse), amounts become doubles for JSON."""
    return "DOUBLE" if measure == "amount_aed" else "BIGINT"


def cells(
    table: Table,
    column: str,
    keys: dict[str, str],
    filters: dict[str, tuple[object, ...]],
) -> tuple[str, list[object]]:
    """The ``cells`` CTE body: one row per cell of ``table`` with its ``keys`` (alias ->
    fixed SQL), its measure as ``value`` and whether it was ``published``."""
    # Filters name dimensions the route chose, never caller text; a wrong one is a bug.
    if not set(filters) <= set(table.dimensions):
        raise ValueError(f"{table.dataset} has no dimension among {sorted(filters)}")
    selected = ", ".join(f"{sql} AS {ident(alias)}" for alias, sql in keys.items())
    clause, params = where(filters)
    sql = (
        f"SELECT {selected}, {ident(column)} AS value, {published(column)} AS published "
        f"FROM read_parquet(?){clause}"
    )
    return sql, params


def point(measure: str) -> str:
    """A group's published sum, its cells and how many of them were suppressed."""
    return (
        f"CAST(sum(value) FILTER (WHERE published) AS {value_type(measure)}) AS value, "
        "count(*) AS cells, count(*) FILTER (WHERE NOT published) AS suppressed_cells"
    )
