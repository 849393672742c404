"""The populations that datasets count and sum: named row filters over the analytic store.

A dataset's additive measures each partition one population; tables of the same population
are linked (their margins agree), which is what the disclosure audit reasons about.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

Population = Literal[
    "epay_success",
    "counter_success",
    "all_success",
    "epay_attempts",
    "epay_refunds",
    "maturity",
]

_PAYMENT = pl.col("record_type") == "payment"
_SUCCESS = pl.col("status") == "success"
_ELECTRONIC = pl.col("electronic")

FILTERS: dict[Population, pl.Expr] = {
    # The ePay gateway's published figures: successful payments through e-channels.
    "epay_success": _PAYMENT & _SUCCESS & _ELECTRONIC,
    "counter_success": _PAYMENT & _SUCCESS & ~_ELECTRONIC,
    "all_success": _PAYMENT & _SUCCESS,
    "epay_attempts": _PAYMENT & _ELECTRONIC,
    "epay_refunds": (pl.col("record_type") == "refund") & _ELECTRONIC,
    # Everyone who dealt with a department in the period, for the maturity indicators.
    "maturity": _PAYMENT,
}


def rows_of(store: pl.LazyFrame, population: Population) -> pl.LazyFrame:
    return store.filter(FILTERS[population])
