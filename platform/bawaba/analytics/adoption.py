"""E-channel adoption per department and quarter, and its trend.

Adoption is electronic payments over all payments (electronic plus service-centre counter),
in percent, recomputed from the published counts so that departments can be added up
(a mean of percentages would weight a small department like a large one). The changes are in
percentage points on the quarter before and on the same quarter a year earlier, and the
trend is the least-squares slope over the complete quarters, in points per year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from bawaba.analytics.answer import Plan, Result, query, suppression
from bawaba.analytics.periods import PER_YEAR, quarter_ordinal
from bawaba.analytics.tables import ADOPTION, ident, published, where
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.query import Compiled


@dataclass(frozen=True)
class Adoption:
    by_department: bool
    """One trend per department, or one for the departments selected together."""
    filters: dict[str, tuple[str, ...]]


def compile_adoption(question: Adoption) -> Compiled:
    electronic = ident(ADOPTION.measures["electronic"])
    counter = ident(ADOPTION.measures["counter"])
    group = "department, " if question.by_department else ""
    partition = "PARTITION BY department " if question.by_department else ""
    clause, params = where(dict(question.filters))

    def back(steps: int) -> str:
        return (
            "first_value(CASE WHEN suppressed_cells = 0 THEN adoption END) OVER "
            f"({partition}ORDER BY ordinal RANGE BETWEEN {steps} PRECEDING AND {steps} "
            "PRECEDING)"
        )

    def change(base: str) -> str:
        return f"CASE WHEN suppressed_cells = 0 THEN round(adoption - {base}, 2) END"

    sql = (
        'WITH cells AS (SELECT "quarter" AS period, '
        f'{quarter_ordinal(ident("quarter"))} AS ordinal, "department", '
        f"{electronic} AS electronic, {counter} AS counter, "
        f"{published(ADOPTION.measures['electronic'], ADOPTION.measures['counter'])} "
        f"AS published FROM read_parquet(?){clause}), "
        f"points AS (SELECT {group}period, ordinal, "
        "CAST(sum(electronic) FILTER (WHERE published) AS BIGINT) AS electronic, "
        "CAST(sum(counter) FILTER (WHERE published) AS BIGINT) AS counter, "
        "count(*) AS cells, count(*) FILTER (WHERE NOT published) AS suppressed_cells "
        "FROM cells GROUP BY ALL), "
        "rated AS (SELECT *, 100 * electronic / nullif(electronic + counter, 0) AS adoption "
        "FROM points), "
        f"compared AS (SELECT *, {back(1)} AS last_quarter, {back(PER_YEAR['quarter'])} "
        "AS year_ago, "
        "regr_slope(CASE WHEN suppressed_cells = 0 THEN adoption END, ordinal) "
        f"OVER ({partition.strip()}) * {PER_YEAR['quarter']} AS slope FROM rated) "
        f"SELECT {group}period, electronic, counter, round(adoption, 2) AS adoption_pct, "
        f"{change('last_quarter')} AS change_pts, {change('year_ago')} AS yoy_change_pts, "
        "cells, suppressed_cells, round(slope, 2) AS trend_pts_per_year "
        f"FROM compared ORDER BY {group}ordinal"
    )
    return Compiled(sql, tuple(params))


def plan(question: Adoption) -> Plan:
    def compute(engine: Engine, sources: Mapping[str, Published]) -> Result:
        found = query(engine, sources[ADOPTION.dataset], compile_adoption(question))
        trends: list[dict[str, Any]] = []
        for department, group in groupby(
            found, key=lambda p: p["department"] if question.by_department else None
        ):
            quarters = list(group)
            trends.append(
                {
                    "department": department,
                    "trend_pts_per_year": quarters[0]["trend_pts_per_year"],
                    "quarters": [
                        {
                            k: v
                            for k, v in q.items()
                            if k not in ("department", "trend_pts_per_year")
                        }
                        for q in quarters
                    ],
                }
            )
        return Result({"departments": trends, "suppression": suppression(found)}, rows=len(found))

    return Plan(
        "adoption",
        (ADOPTION.dataset,),
        {
            "by_department": question.by_department,
            "filters": {k: list(v) for k, v in question.filters.items()},
        },
        compute,
    )
