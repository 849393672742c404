"""Top e-services by growth: a period against the same period a year earlier.

Comparing with a year earlier rather than with the period before keeps seasonality out of
the ranking. A service is ranked only when both periods are complete (no suppressed cell)
and its year-ago value reaches ``min_previous`` (at least 1): growth from a tiny base says
little, and growth from a suppressed one would be a guess. The services left out are
counted by reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bawaba.analytics.answer import Plan, Result, query, suppression
from bawaba.analytics.periods import PER_YEAR, Grain, label, ordinal
from bawaba.analytics.tables import (
    MONTHLY_SERVICE,
    SERVICE_PERFORMANCE,
    Measure,
    Table,
    cells,
    choose,
    point,
)
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.query import Compiled

CANDIDATES = (SERVICE_PERFORMANCE, MONTHLY_SERVICE)


@dataclass(frozen=True)
class TopServices:
    measure: Measure
    grain: Grain
    at: str | None
    """The period to rank; None for the latest one with data."""
    min_previous: int
    limit: int
    filters: dict[str, tuple[str, ...]]


def compile_growth(table: Table, question: TopServices) -> Compiled:
    """Every service with cells in the chosen period, with its year-ago value and growth,
    ranked services first by growth."""
    assert table.month is not None
    keys = {
        "period": label(question.grain, table.month),
        "ordinal": ordinal(question.grain, table.month),
        "department": '"department"',
        "service": '"service"',
    }
    body, params = cells(table, table.measures[question.measure], keys, dict(question.filters))
    steps = PER_YEAR[question.grain]
    window = (
        f"(PARTITION BY department, service ORDER BY ordinal RANGE BETWEEN {steps} PRECEDING AND "
        f"{steps} PRECEDING)"
    )
    sql = (
        f"WITH cells AS ({body}), "
        f"points AS (SELECT department, service, period, ordinal, {point(question.measure)} "
        "FROM cells GROUP BY ALL), "
        "compared AS (SELECT *, "
        f"first_value(period) OVER {window} AS previous_period, "
        f"first_value(value) OVER {window} AS previous_value, "
        f"first_value(cells) OVER {window} AS previous_cells, "
        f"first_value(suppressed_cells) OVER {window} AS previous_suppressed FROM points), "
        "chosen AS (SELECT * FROM compared WHERE period = coalesce(?, "
        "(SELECT max(period) FROM points))), "
        "rated AS (SELECT *, CASE "
        "WHEN suppressed_cells > 0 OR coalesce(previous_suppressed, 0) > 0 THEN 'suppressed' "
        "WHEN previous_value IS NULL OR previous_value < greatest(?, 1) THEN 'small_base' "
        "ELSE 'ranked' END AS status FROM chosen) "
        "SELECT status, period, previous_period, department, service, value, previous_value, "
        "CASE WHEN status = 'ranked' "
        "THEN round(100 * (value - previous_value) / previous_value, 2) END AS growth_pct, "
        "cells + coalesce(previous_cells, 0) AS cells, "
        "suppressed_cells + coalesce(previous_suppressed, 0) AS suppressed_cells "
        "FROM rated ORDER BY status <> 'ranked', growth_pct DESC NULLS LAST, department, service"
    )
    return Compiled(sql, (*params, question.at, question.min_previous))


def plan(question: TopServices) -> Plan:
    table = choose(CANDIDATES, question.measure, ["service", *question.filters])

    def compute(engine: Engine, sources: Mapping[str, Published]) -> Result:
        found = query(engine, sources[table.dataset], compile_growth(table, question))
        ranked = [r for r in found if r["status"] == "ranked"]
        top = [
            {k: v for k, v in r.items() if k not in ("status", "period", "previous_period")}
            | {"rank": i}
            for i, r in enumerate(ranked[: question.limit], start=1)
        ]
        period = found[0]["period"] if found else question.at
        return Result(
            {
                "measure": question.measure,
                "grain": question.grain,
                "period": period,
                # The same period a year earlier: labels start with their year.
                "previous_period": f"{int(period[:4]) - 1}{period[4:]}" if period else None,
                "services": top,
                "counts": {
                    "with_data": len(found),
                    "ranked": len(ranked),
                    "left_out_suppressed": sum(r["status"] == "suppressed" for r in found),
                    "left_out_small_base": sum(r["status"] == "small_base" for r in found),
                },
                "suppression": suppression(found),
            },
            rows=len(top),
        )

    return Plan(
        "top-services",
        (table.dataset,),
        {
            "measure": question.measure,
            "grain": question.grain,
            "at": question.at,
            "min_previous": question.min_previous,
            "limit": question.limit,
            "filters": {k: list(v) for k, v in question.filters.items()},
        },
        compute,
    )
