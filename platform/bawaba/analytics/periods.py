"""Periods: months rolled up to quarters and years, in SQL, with an ordinal for windows.

An ordinal numbers periods consecutively (months as year × 12 + month − 1), so a window
frame ``RANGE BETWEEN n PRECEDING AND n PRECEDING`` finds exactly the period n steps back,
or nothing when that period is missing: a gap in the data never shifts a comparison onto
the wrong period, as a plain ``lag`` would.
"""

from __future__ import annotations

import re
from typing import Literal

from bawaba.serving.problems import BadParameter

Grain = Literal["month", "quarter", "year"]
GRAINS: tuple[Grain, ...] = ("month", "quarter", "year")
PER_YEAR: dict[Grain, int] = {"month": 12, "quarter": 4, "year": 1}
"""Periods in a year: the ordinal distance to the same period a year earlier."""

_LABEL = {
    "month": (re.compile(r"\d{4}-(0[1-9]|1[0-2])"), "a month such as 2013-06"),
    "quarter": (re.compile(r"\d{4}-Q[1-4]"), "a quarter such as 2013-Q2"),
    "year": (re.compile(r"\d{4}"), "a year such as 2013"),
}


def _year(month: str) -> str:
    return f"CAST(substr({month}, 1, 4) AS INTEGER)"


def _month_number(month: str) -> str:
    return f"CAST(substr({month}, 6, 2) AS INTEGER)"


def label(grain: Grain, month: str) -> str:
    """SQL for the period label (2013-06, 2013-Q2, 2013) of ``month`` (fixed SQL, YYYY-MM)."""
    if grain == "month":
        return month
    if grain == "quarter":
        return (
            f"substr({month}, 1, 4) || '-Q' || CAST(({_month_number(month)} + 2) // 3 AS VARCHAR)"
        )
    return f"substr({month}, 1, 4)"


def ordinal(grain: Grain, month: str) -> str:
    """SQL for the period's ordinal: consecutive periods differ by one."""
    if grain == "month":
        return f"({_year(month)} * 12 + {_month_number(month)} - 1)"
    if grain == "quarter":
        return f"({_year(month)} * 4 + ({_month_number(month)} - 1) // 3)"
    return _year(month)


def quarter_ordinal(quarter: str) -> str:
    """SQL for the ordinal of a YYYY-Qn label (eservice-adoption's time column)."""
    return f"({_year(quarter)} * 4 + CAST(substr({quarter}, 7, 1) AS INTEGER) - 1)"


def parse_period(grain: Grain, raw: str | None, parameter: str) -> str | None:
    """A caller's period label, checked against the grain's shape."""
    if raw is None:
        return None
    pattern, example = _LABEL[grain]
    if not pattern.fullmatch(raw):
        raise BadParameter(
            f"{parameter}: {raw!r} is not a {grain}",
            hint=f"with grain={grain}, give {example}",
        )
    return raw
