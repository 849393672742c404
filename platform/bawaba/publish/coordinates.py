"""Time coordinates derived from the analytic rows, in the formats datasets publish.

``date`` (a date), ``month`` (2013-01), ``quarter`` (2013-Q1), ``year`` (2013) and
``hour_of_week`` (0 = Sunday 00:00-00:59, Dubai time; the UAE week of 2012-2013 began on
Sunday). Every row carries all of them, so a cell of any grain also knows its coarser
periods, which is how linked tables are matched. A cell also knows its ``weekday``
(0 = Sunday) when its time is a date or an hour of the week: a reader derives it from
either, so a daily table and an hourly profile add up to each other by weekday.
"""

from __future__ import annotations

import polars as pl

TIME_HIERARCHY: dict[str, tuple[str, ...]] = {
    "date": ("date", "month", "quarter", "year", "weekday"),
    "month": ("month", "quarter", "year"),
    "quarter": ("quarter", "year"),
    "year": ("year",),
    "hour_of_week": ("hour_of_week", "weekday"),
}


def _period(days: pl.Series, label: pl.Expr) -> tuple[pl.Series, pl.Enum]:
    """Each distinct day's period label, as an enum whose order is the calendar's."""
    labels = days.to_frame("day").select(label.alias("label")).to_series()
    return labels, pl.Enum(sorted(set(labels.to_list())))


def with_time(rows: pl.LazyFrame) -> pl.LazyFrame:
    """``rows`` with the time coordinates. Month and quarter are labelled once per distinct
    day and held as enums (their order is the calendar's), not formatted anew on every row:
    builders group by them, and :func:`bawaba.publish.rows.decode` turns a cell's back into
    text. The distinct days are read at once (one column); the rest stays lazy."""
    day = pl.col("txn_date")
    days = rows.select(day.unique().drop_nulls().sort()).collect().to_series()
    stamp = pl.col("day")
    periods = {
        "month": _period(days, stamp.dt.strftime("%Y-%m")),
        "quarter": _period(
            days,
            stamp.dt.year().cast(pl.String()) + "-Q" + stamp.dt.quarter().cast(pl.String()),
        ),
    }
    return rows.with_columns(
        day.alias("date"),
        *(
            day.replace_strict(days, labels, return_dtype=dtype).alias(name)
            for name, (labels, dtype) in periods.items()
        ),
        day.dt.year().cast(pl.Int32()).alias("year"),
        # weekday() and txn_hour are Int8: widen before the arithmetic, or hours from 128
        # (Friday 08:00) on wrap to negative numbers.
        (day.dt.weekday().cast(pl.Int16()) % 7 * 24 + pl.col("txn_hour").cast(pl.Int16())).alias(
            "hour_of_week"
        ),
    )


def with_coarser(cells: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """Add the coarser periods a cell's time key implies (a month's quarter and year...)."""
    if "date" in keys:
        day = pl.col("date")
        cells = cells.with_columns(
            day.dt.strftime("%Y-%m").alias("month"),
            (day.dt.weekday().cast(pl.Int32) % 7).alias("weekday"),
        )
    if "hour_of_week" in keys:
        cells = cells.with_columns((pl.col("hour_of_week").cast(pl.Int32) // 24).alias("weekday"))
    if "month" in keys or "date" in keys:
        year, month = pl.col("month").str.slice(0, 4), pl.col("month").str.slice(5, 2)
        quarter = (month.cast(pl.Int32) - 1) // 3 + 1
        cells = cells.with_columns((year + "-Q" + quarter.cast(pl.String())).alias("quarter"))
    if "quarter" in keys or "month" in keys or "date" in keys:
        cells = cells.with_columns(pl.col("quarter").str.slice(0, 4).cast(pl.Int32).alias("year"))
    return cells
