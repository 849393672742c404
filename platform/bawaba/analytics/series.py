"""Time series of a measure by month, with month-on-month and year-on-year growth.

The source is the coarsest published table that holds the measure and every dimension the
question names: epay-monthly (department, channel), then service-performance (department,
service; transactions only), then epay-monthly-service (department, service,
channel). Growth compares a month with the month before and with the same month a year
earlier, each only when both months are complete (no suppressed cell).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from bawaba.analytics.answer import Plan, Result, query, suppression
from bawaba.analytics.periods import PER_YEAR, ordinal
from bawaba.analytics.tables import (
    EPAY_MONTHLY,
    MONTHLY_SERVICE,
    SERVICE_PERFORMANCE,
    Measure,
    Table,
    cells,
    choose,
    ident,
    point,
)
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.problems import BadParameter
from bawaba.serving.query import Compiled

CANDIDATES = (EPAY_MONTHLY, SERVICE_PERFORMANCE, MONTHLY_SERVICE)
DIMENSIONS = ("department", "channel", "service")


@dataclass(frozen=True)
class Series:
    measure: Measure
    by: tuple[str, ...]
    filters: dict[str, tuple[str, ...]]
    limit: int


def parse_by(raw: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The dimensions to break down by, comma-separated, in the order given."""
    names = tuple(dict.fromkeys(p.strip() for p in (raw or "").split(",") if p.strip()))
    for name in names:
        if name not in allowed:
            raise BadParameter(
                f"by: cannot break down by {name!r}",
                hint=f"break down by any of: {', '.join(allowed)} (comma-separated)",
            )
    return names


def compile_series(table: Table, question: Series) -> Compiled:
    assert table.month is not None
    column = table.measures[question.measure]
    keys = {"period": table.month, "ordinal": ordinal("month", table.month)}
    keys |= {d: ident(d) for d in question.by}
    body, params = cells(table, column, keys, dict(question.filters))
    groups = "".join(f"{ident(d)}, " for d in question.by)
    partition = f"PARTITION BY {groups.rstrip(', ')} " if question.by else ""

    def back(steps: int) -> str:
        # The complete value exactly `steps` months back, or NULL: see periods.py.
        return (
            "first_value(CASE WHEN suppressed_cells = 0 THEN value END) OVER "
            f"({partition}ORDER BY ordinal RANGE BETWEEN {steps} PRECEDING AND {steps} "
            "PRECEDING)"
        )

    def growth(base: str) -> str:
        return (
            f"CASE WHEN suppressed_cells = 0 AND {base} > 0 "
            f"THEN round(100 * (value - {base}) / {base}, 2) END"
        )

    sql = (
        f"WITH cells AS ({body}), "
        f"points AS (SELECT {groups}period, ordinal, {point(question.measure)} "
        "FROM cells GROUP BY ALL), "
        f"compared AS (SELECT *, {back(1)} AS last_month, "
        f"{back(PER_YEAR['month'])} AS year_ago FROM points) "
        f"SELECT {groups}period, value, {growth('last_month')} AS mom_growth_pct, "
        f"{growth('year_ago')} AS yoy_growth_pct, cells, suppressed_cells "
        f"FROM compared ORDER BY {groups}ordinal LIMIT ?"
    )
    return Compiled(sql, (*params, question.limit + 1))


def plan(question: Series) -> Plan:
    table = choose(CANDIDATES, question.measure, [*question.by, *question.filters])

    def compute(engine: Engine, sources: Mapping[str, Published]) -> Result:
        found = query(engine, sources[table.dataset], compile_series(table, question))
        points = found[: question.limit]
        series: list[dict[str, Any]] = []
        for key, group in groupby(points, key=lambda p: tuple(p[d] for d in question.by)):
            series.append(
                {
                    "key": dict(zip(question.by, key, strict=True)),
                    "points": [{k: v for k, v in p.items() if k not in question.by} for p in group],
                }
            )
        return Result(
            {
                "measure": question.measure,
                "series": series,
                "suppression": suppression(points),
                "truncated": len(found) > question.limit,
            },
            rows=len(points),
        )

    return Plan(
        "timeseries",
        (table.dataset,),
        {
            "measure": question.measure,
            "by": list(question.by),
            "filters": {k: list(v) for k, v in question.filters.items()},
            "limit": question.limit,
        },
        compute,
    )
