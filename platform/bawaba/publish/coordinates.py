"""Time coordinates derived from the analytic rows, in the formats datasets publish.

``date`` (a date), ``month`` (2013-01), ``quarter`` (2013-Q1), ``year`` (2013) and
``hour_of_week`` (0 = Sunday 00:00-00:59, Dubai time; the UAE week of 2012-2013 began on
Sunday). Every row carries all of them, so a cell of any grain also knows its coarser
periods, which is how linked tables are matched.
"""

from __future__ import annotations

import polars as pl

TIME_HIERARCHY: dict[str, tuple[str, ...]] = {
    "date": ("date", "month", "quarter", "year"),
    "month": ("month", "quarter", "year"),
    "quarter": ("quarter", "year"),
    "year": ("year",),
    "hour_of_week": ("hour_of_week",),
}


def with_time(rows: pl.LazyFrame) -> pl.LazyFrame:
    day = pl.col("txn_date")
    return rows.with_columns(
        day.alias("date"),
        day.dt.strftime("%Y-%m").alias("month"),
        (day.dt.year().cast(pl.String()) + "-Q" + day.dt.quarter().cast(pl.String())).alias(
            "quarter"
        ),
        day.dt.year().cast(pl.Int32()).alias("year"),
        ((day.dt.weekday() % 7) * 24 + pl.col("txn_hour")).cast(pl.Int16()).alias("hour_of_week"),
    )


def with_coarser(cells: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """Add the coarser periods a cell's time key implies (a month's quarter and year...)."""
    if "date" in keys:
        day = pl.col("date")
        cells = cells.with_columns(day.dt.strftime("%Y-%m").alias("month"))
    if "month" in keys or "date" in keys:
        year, month = pl.col("month").str.slice(0, 4), pl.col("month").str.slice(5, 2)
        quarter = (month.cast(pl.Int32) - 1) // 3 + 1
        cells = cells.with_columns((year + "-Q" + quarter.cast(pl.String())).alias("quarter"))
    if "quarter" in keys or "month" in keys or "date" in keys:
        cells = cells.with_columns(pl.col("quarter").str.slice(0, 4).cast(pl.Int32).alias("year"))
    return cells
