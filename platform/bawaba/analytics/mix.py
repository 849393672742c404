"""Channel mix and payment-method mix per period, and how the shares shift.

A member's share is its published sum over the period's published sum, in percent. The
shift is the change of that share in percentage points, on the period before and on the
same period a year earlier; it is given only when both periods are complete, because one
suppressed cell anywhere in a period moves every share of that period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from bawaba.analytics.answer import Plan, Result, query, suppression
from bawaba.analytics.periods import PER_YEAR, Grain, label, ordinal
from bawaba.analytics.tables import (
    EPAY_MONTHLY,
    PAYMENT_METHODS,
    Measure,
    Table,
    cells,
    ident,
    point,
    value_type,
)
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.query import Compiled

Dimension = Literal["channel", "payment_method"]
"""channel: the electronic channel (epay-monthly); payment_method: credit card, direct
debit, eDirham (epay-payment-methods)."""
TABLES: dict[str, Table] = {"channel": EPAY_MONTHLY, "payment_method": PAYMENT_METHODS}


@dataclass(frozen=True)
class Mix:
    dimension: Dimension
    measure: Measure
    grain: Grain
    filters: dict[str, tuple[str, ...]]


def compile_mix(table: Table, question: Mix) -> Compiled:
    assert table.month is not None
    member = ident(question.dimension)
    keys = {
        "period": label(question.grain, table.month),
        "ordinal": ordinal(question.grain, table.month),
        "member": member,
    }
    body, params = cells(table, table.measures[question.measure], keys, dict(question.filters))

    def back(steps: int) -> str:
        return (
            "first_value(CASE WHEN period_suppressed = 0 THEN share END) OVER (PARTITION BY "
            f"member ORDER BY ordinal RANGE BETWEEN {steps} PRECEDING AND {steps} PRECEDING)"
        )

    def shift(base: str) -> str:
        return f"CASE WHEN period_suppressed = 0 THEN round(share - {base}, 2) END"

    sql = (
        f"WITH cells AS ({body}), "
        f"points AS (SELECT period, ordinal, member, {point(question.measure)} "
        "FROM cells GROUP BY ALL), "
        "shares AS (SELECT *, "
        "100 * value / nullif(sum(value) OVER (PARTITION BY period), 0) AS share, "
        f"CAST(sum(value) OVER (PARTITION BY period) AS {value_type(question.measure)}) "
        "AS period_total, "
        "sum(suppressed_cells) OVER (PARTITION BY period) AS period_suppressed FROM points), "
        f"compared AS (SELECT *, {back(1)} AS last_share, "
        f"{back(PER_YEAR[question.grain])} AS year_ago_share FROM shares) "
        "SELECT period, period_total, member, value, round(share, 2) AS share_pct, "
        f"{shift('last_share')} AS shift_pts, {shift('year_ago_share')} AS yoy_shift_pts, "
        "cells, suppressed_cells FROM compared ORDER BY ordinal, member"
    )
    return Compiled(sql, tuple(params))


def plan(question: Mix) -> Plan:
    table = TABLES[question.dimension]

    def compute(engine: Engine, sources: Mapping[str, Published]) -> Result:
        found = query(engine, sources[table.dataset], compile_mix(table, question))
        periods: list[dict[str, Any]] = []
        for period, group in groupby(found, key=lambda p: p["period"]):
            members = list(group)
            periods.append(
                {
                    "period": period,
                    "total": members[0]["period_total"],
                    "cells": sum(int(m["cells"]) for m in members),
                    "suppressed_cells": sum(int(m["suppressed_cells"]) for m in members),
                    "members": [
                        {k: v for k, v in m.items() if k not in ("period", "period_total")}
                        for m in members
                    ],
                }
            )
        return Result(
            {
                "dimension": question.dimension,
                "measure": question.measure,
                "grain": question.grain,
                "periods": periods,
                "suppression": suppression(found),
            },
            rows=len(found),
        )

    return Plan(
        "mix",
        (table.dataset,),
        {
            "dimension": question.dimension,
            "measure": question.measure,
            "grain": question.grain,
            "filters": {k: list(v) for k, v in question.filters.items()},
        },
        compute,
    )
