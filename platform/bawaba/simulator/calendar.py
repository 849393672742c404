"""When people pay: the Dubai calendar of 2012-2013 and the shape of a day per channel.

UAE weekend Friday-Saturday, public holidays, Ramadan (daytime dip, evening shift, short
counter hours), summer dip (July-August), yearly growth, and each channel's hour-of-day
profile (counters only during service-centre hours, internet with an evening peak).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from bawaba.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

RAMADAN: Mapping[int, tuple[str, str]] = MappingProxyType(
    {2012: ("2012-07-20", "2012-08-18"), 2013: ("2013-07-09", "2013-08-07")}
)
HOLIDAYS: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {
        2012: (
            "2012-01-01",  # New Year
            "2012-02-04",  # Prophet's birthday
            "2012-06-17",  # Isra and Mi'raj
            "2012-08-19",
            "2012-08-20",
            "2012-08-21",  # Eid al-Fitr
            "2012-10-24",
            "2012-10-25",
            "2012-10-26",
            "2012-10-27",  # Arafat, Eid al-Adha
            "2012-11-15",  # Islamic New Year
            "2012-12-02",
            "2012-12-03",  # National Day
        ),
        2013: (
            "2013-01-01",
            "2013-01-24",
            "2013-06-06",
            "2013-08-08",
            "2013-08-09",
            "2013-08-10",
            "2013-10-14",
            "2013-10-15",
            "2013-10-16",
            "2013-10-17",
            "2013-11-04",
            "2013-12-02",
            "2013-12-03",
        ),
    }
)

FRIDAY, SATURDAY = 4, 5  # numpy weekday numbering, Monday = 0


@dataclass(frozen=True)
class YearCalendar:
    year: int
    midnight: IntArray
    """Each day of the year as seconds since 1970-01-01 (local Dubai time)."""
    month: IntArray
    """1..12 for each day."""
    day_of_month: IntArray
    weekday: IntArray
    ramadan: BoolArray
    holiday: BoolArray
    month_start: IntArray
    """Index of each month's first day (13 entries, the last is the year's length)."""


@cache
def year_calendar(year: int) -> YearCalendar:
    if year not in RAMADAN:
        raise ConfigError(f"no calendar for {year}", hint="simulate 2012 and/or 2013")
    days = np.arange(f"{year}-01-01", f"{year + 1}-01-01", dtype="datetime64[D]")
    as_int = days.astype(np.int64)
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    month_first = days.astype("datetime64[M]").astype("datetime64[D]")
    first, last = RAMADAN[year]
    ramadan = (days >= np.datetime64(first)) & (days <= np.datetime64(last))
    holiday = np.isin(days, np.array(HOLIDAYS[year], dtype="datetime64[D]"))
    starts = np.searchsorted(months, np.arange(1, 14))
    return YearCalendar(
        year=year,
        midnight=as_int * 86_400,
        month=months,
        day_of_month=(days - month_first).astype(np.int64) + 1,
        weekday=(as_int + 3) % 7,
        ramadan=ramadan,
        holiday=holiday,
        month_start=starts.astype(np.int64),
    )


def day_weights(cal: YearCalendar, *, counter: bool, billing_cycle: bool) -> FloatArray:
    """Relative volume of each day of the year for electronic channels or counters."""
    n = len(cal.midnight)
    weights = 1.0 + 0.12 * np.arange(n) / n  # growth through the year
    summer = (cal.month == 7) | (cal.month == 8)
    weights = weights * np.where(summer, 0.84, 1.0)
    if counter:
        weights = weights * np.where(cal.weekday == SATURDAY, 0.3, 1.0)
        weights = weights * np.where((cal.weekday == FRIDAY) | cal.holiday, 0.0, 1.0)
        weights = weights * np.where(cal.ramadan, 0.82, 1.0)
    else:
        weights = weights * np.select(
            [cal.weekday == FRIDAY, cal.weekday == SATURDAY], [0.62, 0.78], 1.0
        )
        weights = weights * np.where(cal.holiday, 0.6, 1.0)
        weights = weights * np.where(cal.ramadan, 0.9, 1.0)
    if billing_cycle:
        # bills go out at the start of the month; payments follow within days, with a
        # smaller wave before the due date
        dom = cal.day_of_month.astype(np.float64)
        weights = weights * (
            0.7
            + 1.4 * np.exp(-(((dom - 6.0) / 3.5) ** 2))
            + 0.4 * np.exp(-(((dom - 22.0) / 2.5) ** 2))
        )
    return np.asarray(weights, dtype=np.float64)


# Relative volume of a service category by month (licence renewals peak at the year end).
_FLAT = (1.0,) * 12
MONTH_SEASON: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "licences": (1.25, 1.0, 1.0, 0.95, 0.95, 0.9, 0.85, 0.85, 0.95, 1.0, 1.1, 1.45),
        "registration": (1.2, 1.0, 1.0, 1.0, 0.95, 0.9, 0.85, 0.85, 0.95, 1.0, 1.1, 1.35),
        "trade": (1.15, 1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.0, 1.05, 1.3),
        "education": (1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.7, 1.3, 1.6, 1.0, 0.95, 0.9),
        "tourism": (1.2, 1.2, 1.2, 1.1, 0.9, 0.8, 0.7, 0.7, 0.9, 1.1, 1.2, 1.3),
    }
)
# Size of a utility bill by month (air conditioning in summer).
BILL_SEASON: tuple[float, ...] = (0.8, 0.75, 0.8, 0.9, 1.1, 1.3, 1.45, 1.5, 1.35, 1.1, 0.9, 0.8)


def month_season(category: str) -> FloatArray:
    return np.array(MONTH_SEASON.get(category, _FLAT), dtype=np.float64)


# Hour-of-day profiles (24 relative weights) outside Ramadan.
_HOURS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "internet": (
            0.8,
            0.5,
            0.3,
            0.2,
            0.2,
            0.3,
            0.8,
            1.8,
            3.0,
            4.0,
            4.5,
            4.6,
            4.3,
            4.0,
            4.0,
            4.2,
            4.3,
            4.5,
            4.8,
            5.2,
            5.6,
            5.4,
            4.2,
            2.2,
        ),
        "mobile_app": (
            1.2,
            0.7,
            0.4,
            0.2,
            0.2,
            0.3,
            0.9,
            2.0,
            3.0,
            3.4,
            3.6,
            3.8,
            3.8,
            3.6,
            3.6,
            3.8,
            4.0,
            4.3,
            4.8,
            5.4,
            6.0,
            6.0,
            4.8,
            2.8,
        ),
        "sms": (
            0.3,
            0.2,
            0.1,
            0.1,
            0.1,
            0.2,
            0.6,
            2.0,
            3.4,
            4.0,
            4.2,
            4.2,
            4.0,
            3.8,
            3.6,
            3.6,
            3.8,
            4.0,
            4.2,
            4.2,
            4.0,
            3.2,
            2.0,
            0.8,
        ),
        "kiosk": (
            0.3,
            0.1,
            0.0,
            0.0,
            0.0,
            0.0,
            0.1,
            0.5,
            1.2,
            2.0,
            3.0,
            3.4,
            3.6,
            3.6,
            3.6,
            3.8,
            4.2,
            4.8,
            5.4,
            5.8,
            5.8,
            5.2,
            4.0,
            1.5,
        ),
        "ivr": (
            0.2,
            0.1,
            0.1,
            0.0,
            0.0,
            0.1,
            0.3,
            1.2,
            3.4,
            4.4,
            4.6,
            4.6,
            4.2,
            3.8,
            3.8,
            4.0,
            4.0,
            3.8,
            3.4,
            3.0,
            2.6,
            2.0,
            1.2,
            0.5,
        ),
        "call_centre": (
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.4,
            3.6,
            4.6,
            4.8,
            4.8,
            4.4,
            4.0,
            4.0,
            4.2,
            4.0,
            3.6,
            3.0,
            2.4,
            1.8,
            1.0,
            0.0,
            0.0,
        ),
        # service centres: government hours 07:30-14:30, some centres until 20:00
        "counter": (
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            5.0,
            6.0,
            6.2,
            6.0,
            5.5,
            4.0,
            1.4,
            1.0,
            1.0,
            1.0,
            0.8,
            0.5,
            0.0,
            0.0,
            0.0,
            0.0,
        ),
    }
)
# Ramadan: a daytime dip and an evening shift after iftar; counters 09:00-15:00.
_RAMADAN_SHIFT = (
    1.8,
    1.6,
    1.4,
    1.0,
    1.0,
    0.6,
    0.5,
    0.5,
    0.6,
    0.7,
    0.75,
    0.75,
    0.75,
    0.75,
    0.7,
    0.6,
    0.5,
    0.4,
    0.3,
    0.9,
    1.6,
    1.8,
    2.0,
    2.0,
)
_RAMADAN_COUNTER = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    5.0,
    6.0,
    6.0,
    5.5,
    4.0,
    2.5,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
)


def hour_cdf(channels: tuple[str, ...]) -> FloatArray:
    """Cumulative hour profiles, shape (2 * len(channels), 24): row 2c normal, 2c+1 Ramadan.

    In Ramadan every channel gets the daytime dip and evening shift (within its own opening
    hours); counters follow the short Ramadan working day.
    """
    rows = []
    for channel in channels:
        normal = np.array(_HOURS[channel], dtype=np.float64)
        if channel == "counter":
            ramadan = np.array(_RAMADAN_COUNTER, dtype=np.float64)
        else:
            ramadan = normal * np.array(_RAMADAN_SHIFT, dtype=np.float64)
        for profile in (normal, ramadan):
            rows.append(np.cumsum(profile) / profile.sum())
    table = np.vstack(rows)
    table[:, -1] = 1.0
    return table
