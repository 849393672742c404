"""Corrected re-deliveries: now and then a department sends an earlier month's file again.

Real departments do: an amount keyed wrong is put right, payments the first export missed
are added, and the whole file is delivered again under the same name. Which month files
are corrected, when, and how is drawn from the seed alone (its own random stream per
department and month), so every ``--through`` run agrees on them.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import polars as pl

from bawaba.simulator.plan import department_index

Month = tuple[int, int]
"""(year, month)."""

CORRECTION_SHARE = 0.02
"""Of the month files a department delivers, the share it later sends again corrected."""
CORRECTED_AMOUNTS = 3
"""Payments of a variable-amount service whose amount a correction puts right."""
MISSED_PAYMENTS = 2
"""Payments the first export missed, added by a correction."""
MISSED_REFERENCES = 900_000_000
"""Reference numbers of missed payments start here (a department's own numbers stay below)."""
_STREAM = 0xC0FFEE
"""Tells the correction streams apart from the simulator's other streams."""


def _rng(seed: int, code: str, month: Month) -> np.random.Generator:
    return np.random.default_rng([seed, department_index(code), month[0], month[1], _STREAM])


def _after(month: Month, months: int) -> Month:
    year, number = month
    number += months
    return (year + (number - 1) // 12, (number - 1) % 12 + 1)


def correction_month(seed: int, code: str, month: Month) -> Month | None:
    """When the department sends ``month``'s file again corrected (one or two months after
    it delivered the file), or None if it never does."""
    rng = _rng(seed, code, month)
    if rng.random() >= CORRECTION_SHARE:
        return None
    return _after(month, int(rng.integers(1, 3)))


def corrected(
    rows: pl.DataFrame, seed: int, code: str, month: Month, variable: Set[str]
) -> pl.DataFrame:
    """``rows`` (the month file's records, internal fields) as the correction has them: a
    few amounts of ``variable``-amount services changed, a few missed payments added at the
    end. A payment is a successful one with a time and an amount."""
    rng = _rng(seed, code, month)
    rng.random()  # the draw correction_month made
    paid = (
        (pl.col("record_type") == "payment")
        & (pl.col("status") == "success")
        & pl.col("occurred_at").is_not_null()
        & pl.col("amount").is_not_null()
    )
    position = pl.int_range(pl.len()).alias("_position")
    payments = rows.with_columns(position).filter(paid)
    variable_payments = payments.filter(pl.col("service_code").is_in(sorted(variable)))
    put_right = _pick(variable_payments.get_column("_position"), CORRECTED_AMOUNTS, rng)
    amount = pl.col("amount")
    out = rows.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(put_right))
        .then(amount + pl.max_horizontal(amount // 10, pl.lit(100)))
        .otherwise(amount)
        .cast(rows.schema["amount"])
        .alias("amount")
    )
    missed = out[_pick(payments.get_column("_position"), MISSED_PAYMENTS, rng)]
    # Numbers of their own, unique in the department's year (references carry the year).
    first = MISSED_REFERENCES + month[1] * 1_000
    numbers = pl.Series([first + i for i in range(missed.height)], dtype=pl.Int64)
    missed = missed.with_columns(
        record_id=numbers.cast(rows.schema["record_id"]),
        reference=pl.col("reference").str.head(-9) + numbers.cast(pl.String),
    )
    return pl.concat([out, missed])


def _pick(positions: pl.Series, count: int, rng: np.random.Generator) -> list[int]:
    chosen = rng.choice(positions.to_numpy(), size=min(count, positions.len()), replace=False)
    return sorted(int(p) for p in chosen)
