"""Seasonality profiles: by month of the year, and by hour of the week.

Each point sums the published cells of its month (or hour) over the years selected; its
``per_year`` is that sum over the number of years with cells, so a month covered in one
year only is not compared with a month covered in two. The seasonal ``index`` is per_year
over the mean per_year of all points, times 100 (100 = an average month or hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bawaba.analytics.answer import Plan, Result, query, suppression
from bawaba.analytics.tables import EPAY_MONTHLY, HOURLY_PROFILE, Measure, Table, cells, point
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.problems import BadParameter
from bawaba.serving.query import Compiled

Profile = Literal["month_of_year", "hour_of_week"]
"""month_of_year: 1-12 from epay-monthly; hour_of_week: 0-167 (0 = Sunday 00:00) from
epay-hourly-profile."""
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
HOURS_IN_WEEK = 7 * 24


def week_hour(slot: int) -> dict[str, object]:
    """An ``hour_of_week`` with its weekday and hour: 0-23 Sunday, ..., 120-143 Friday,
    144-167 Saturday. Out of range is refused, not labelled: Python's negative indexing
    would otherwise name a wrapped -128 a Monday."""
    if not 0 <= slot < HOURS_IN_WEEK:
        raise ValueError(f"hour_of_week {slot} is outside 0-{HOURS_IN_WEEK - 1}")
    day, hour = divmod(slot, 24)
    return {"hour_of_week": slot, "day": DAYS[day], "hour": hour}


@dataclass(frozen=True)
class Seasonality:
    profile: Profile
    measure: Measure
    filters: dict[str, tuple[object, ...]]
    """Members by dimension; ``year`` holds whole years."""


def source(profile: Profile) -> Table:
    return EPAY_MONTHLY if profile == "month_of_year" else HOURLY_PROFILE


def compile_profile(question: Seasonality) -> Compiled:
    table = source(question.profile)
    if question.profile == "month_of_year":
        keys = {
            "slot": 'CAST(substr("month", 6, 2) AS INTEGER)',
            "year": 'CAST(substr("month", 1, 4) AS INTEGER)',
        }
        filters = {k: v for k, v in question.filters.items() if k != "year"}
        years = question.filters.get("year", ())
    else:
        keys = {"slot": '"hour_of_week"', "year": '"year"'}
        filters, years = dict(question.filters), ()
    body, params = cells(table, table.measures[question.measure], keys, filters)
    # epay-monthly has no year column: a year filter there is on the month's year.
    year_clause = ""
    if years:
        year_clause = f" WHERE year IN ({', '.join('?' for _ in years)})"
        params = [*params, *years]
    sql = (
        f"WITH cells AS (SELECT * FROM ({body}){year_clause}), "
        f"points AS (SELECT slot, {point(question.measure)}, "
        "count(DISTINCT year) FILTER (WHERE published) AS years FROM cells GROUP BY slot), "
        "rated AS (SELECT *, CAST(value AS DOUBLE) / nullif(years, 0) AS per_year FROM points) "
        "SELECT slot, value, round(per_year, 2) AS per_year, "
        "round(100 * value / sum(value) OVER (), 2) AS share_pct, "
        "round(100 * per_year / avg(per_year) OVER (), 2) AS index, "
        "years, cells, suppressed_cells FROM rated ORDER BY slot"
    )
    return Compiled(sql, tuple(params))


def plan(question: Seasonality) -> Plan:
    table = source(question.profile)
    unheld = sorted(set(question.filters) - {"year", *table.dimensions})
    if unheld:
        raise BadParameter(
            f"{question.profile}: {table.dataset} has no {', '.join(unheld)} breakdown",
            hint=f"filter this profile by: {', '.join(['year', *table.dimensions])}",
        )

    def compute(engine: Engine, sources: Mapping[str, Published]) -> Result:
        points = query(engine, sources[table.dataset], compile_profile(question))
        for i, p in enumerate(points):
            slot = p.pop("slot")
            where = (
                {"month_of_year": slot} if question.profile == "month_of_year" else week_hour(slot)
            )
            points[i] = where | p
        return Result(
            {
                "profile": question.profile,
                "measure": question.measure,
                "points": points,
                "suppression": suppression(points),
            },
            rows=len(points),
        )

    return Plan(
        "seasonality",
        (table.dataset,),
        {
            "profile": question.profile,
            "measure": question.measure,
            "filters": {k: list(v) for k, v in question.filters.items()},
        },
        compute,
    )
