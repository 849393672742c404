"""Dirty rows, and the numbering every row gets from its department's system.

Dirty rows are extra rows made from clean ones (so the calibration holds over the clean
rows): a blank service code, amount or timestamp; an impossible timestamp text; a negative
payment; a service code the reference does not know; an exact re-delivery of an earlier row
of the same month file under a new record_id.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from bawaba.simulator.calendar import YearCalendar
from bawaba.simulator.profiles import DIRTY_KINDS
from bawaba.simulator.records import COUNTER_SUCCESS, E_SUCCESS, FAILED, REFUND, Rows

IntArray = npt.NDArray[np.int64]

MISSING_FIELD, BAD_TIMESTAMP, NEGATIVE_AMOUNT, UNKNOWN_SERVICE, DUPLICATE = (
    DIRTY_KINDS.index(k) for k in DIRTY_KINDS
)
MISSING_SERVICE, MISSING_AMOUNT, MISSING_TIMESTAMP = range(3)
BAD_TIMESTAMP_VARIANTS = 4
UNKNOWN_SERVICE_NUMBERS: tuple[str, ...] = ("999", "998", "990", "0000", "950")


def unknown_codes(code: str, known: frozenset[str]) -> tuple[str, ...]:
    """Service codes of the department that the reference does not know."""
    return tuple(c for c in (f"{code}-{n}" for n in UNKNOWN_SERVICE_NUMBERS) if c not in known)


def month_end(cal: YearCalendar, t: IntArray) -> IntArray:
    """The last second of the month of each timestamp."""
    day = (t - cal.midnight[0]) // 86_400
    next_month = cal.month_start[cal.month[day]]
    midnight = np.concatenate([cal.midnight, [cal.midnight[-1] + 86_400]])
    last: IntArray = midnight[next_month] - 1
    return last


def add_dirt(
    rows: Rows,
    counts: Mapping[str, int],
    n_unknown: int,
    cal: YearCalendar,
    rng: np.random.Generator,
) -> Rows:
    """``rows`` followed by the dirty rows made from them."""
    parts = [rows]
    payments = np.flatnonzero(rows.kind != REFUND)
    successful = np.flatnonzero((rows.kind == E_SUCCESS) | (rows.kind == COUNTER_SUCCESS))
    everything = np.arange(len(rows))
    for index, kind in enumerate(DIRTY_KINDS):
        count = counts.get(kind, 0)
        if count == 0:
            continue
        pool = {NEGATIVE_AMOUNT: successful, DUPLICATE: everything}.get(index, payments)
        if index == UNKNOWN_SERVICE and n_unknown == 0:
            pool = np.zeros(0, dtype=np.int64)
        if len(pool) == 0:
            continue
        source = np.sort(rng.choice(pool, count, replace=count > len(pool)))
        dirty = rows.take(source)
        dirty.source = source.astype(np.int64)
        dirty.dirty = np.full(count, index, dtype=np.int64)
        if index == MISSING_FIELD:
            dirty.detail = rng.integers(0, 3, count)
        elif index == BAD_TIMESTAMP:
            dirty.detail = rng.integers(0, BAD_TIMESTAMP_VARIANTS, count)
        elif index == NEGATIVE_AMOUNT:
            dirty.amount = -dirty.amount
        elif index == UNKNOWN_SERVICE:
            dirty.detail = rng.integers(0, n_unknown, count)
        elif index == DUPLICATE:
            # delivered again later, inside the same month file
            room = month_end(cal, dirty.t) - dirty.t
            dirty.sort_t = dirty.t + (rng.random(count) * room).astype(np.int64)
        parts.append(dirty)
    return Rows.concat(parts)


def number(rows: Rows, record_id_start: int, rng: np.random.Generator) -> Rows:
    """Rows in the order the system recorded them, with record_id and references.

    References are unique per department and year (``<CODE>-<YEAR>-<number>``) except for a
    re-delivered duplicate, which repeats its original's; a refund names the reference of
    the payment it refunds.
    """
    order = np.lexsort((np.arange(len(rows)), rows.sort_t))
    position = np.empty(len(rows), dtype=np.int64)
    position[order] = np.arange(len(rows))
    ordered = rows.take(order)
    duplicate = ordered.dirty == DUPLICATE
    fresh = ~duplicate
    ordered.ref_no[fresh] = rng.integers(10_000, 60_000) + np.cumsum(
        rng.integers(1, 4, int(fresh.sum()))
    )
    ordered.ref_no[duplicate] = ordered.ref_no[position[ordered.source[duplicate]]]
    refund = ordered.kind == REFUND
    ordered.orig_ref[refund] = ordered.ref_no[position[ordered.origin[refund]]]
    ordered.record_id = record_id_start + np.arange(len(rows), dtype=np.int64)
    # from here on a dirty row's source is the position of its original in this order
    ordered.source = np.where(ordered.source >= 0, position[np.maximum(ordered.source, 0)], -1)
    return ordered


def clean_stats(rows: Rows) -> dict[str, int]:
    """The truth of one department-year over its clean rows."""
    clean = rows.dirty < 0
    e_success = clean & (rows.kind == E_SUCCESS)
    return {
        "e_success": int(e_success.sum()),
        "e_success_value_fils": int(rows.amount[e_success].sum()),
        "counter_success": int((clean & (rows.kind == COUNTER_SUCCESS)).sum()),
        "failed": int((clean & (rows.kind == FAILED)).sum()),
        "refunds": int((clean & (rows.kind == REFUND)).sum()),
    }


def dirty_counts(rows: Rows) -> dict[str, int]:
    found = np.bincount(rows.dirty[rows.dirty >= 0], minlength=len(DIRTY_KINDS))
    return {kind: int(found[i]) for i, kind in enumerate(DIRTY_KINDS)}
