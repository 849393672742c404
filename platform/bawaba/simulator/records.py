"""The rows of one department-year as numeric columns, before any text is rendered.

Follows the plan exactly (counts per month and service), then draws channel, day and hour,
payer, amount (variable amounts rescaled to the planned value), payment method and bank,
refunds and ratings, all vectorised over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from bawaba.reference import ELECTRONIC_CHANNELS, Service
from bawaba.simulator.calendar import day_weights, hour_cdf, year_calendar
from bawaba.simulator.plan import DepartmentYear, amount_season, payer_multipliers
from bawaba.simulator.population import COMPANY, GOVERNMENT, INDIVIDUAL, Population
from bawaba.simulator.profiles import EDIRHAM_G2_SHARE, Profile

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

CHANNELS: tuple[str, ...] = (*ELECTRONIC_CHANNELS, "counter")
COUNTER = CHANNELS.index("counter")
METHODS: tuple[str, ...] = ("credit_card", "direct_debit", "edirham", "edirham_g2", "cash")
CREDIT_CARD, DIRECT_DEBIT, EDIRHAM, EDIRHAM_G2, CASH = range(5)
# what a row is: successful electronic payment, failed electronic attempt, successful
# counter payment, refund
E_SUCCESS, FAILED, COUNTER_SUCCESS, REFUND = range(4)

RATING_SHARE = 0.07
"""Share of successful electronic payments whose payer left a satisfaction rating."""

# relative use of the electronic channels a service offers (mobile grows into 2013)
_CHANNEL_BASE = {"internet": 1.0, "sms": 0.08, "kiosk": 0.06, "ivr": 0.03, "call_centre": 0.03}
_SIGMA = {
    "bills": 0.6,
    "fines": 0.5,
    "property": 1.0,
    "trade": 0.9,
    "legal": 0.8,
    "tourism": 0.7,
    "education": 0.6,
    "licences": 0.6,
}
# electronic payment methods by payer type: credit card, direct debit, eDirham
_METHOD_BASE = np.array([[0.86, 0.04, 0.10], [0.50, 0.25, 0.25], [0.15, 0.40, 0.45]])


@dataclass
class Rows:
    """Numeric columns of rows; indices refer to the department's services and channels."""

    t: IntArray
    """Local time, seconds since 1970-01-01."""
    sort_t: IntArray
    """When the system recorded the row (a re-delivered duplicate comes later)."""
    svc: IntArray
    channel: IntArray
    method: IntArray
    bank: IntArray
    kind: IntArray
    ptype: IntArray
    payer: IntArray
    amount: IntArray
    """Fils."""
    rating: IntArray
    """1..5, 0 for none."""
    origin: IntArray
    """For a refund: the row of the refunded payment."""
    source: IntArray
    """For a dirty row: the row it was made from."""
    dirty: IntArray
    """-1 for a clean row, else the index of its kind in DIRTY_KINDS."""
    detail: IntArray
    """Which field is missing, which bad timestamp or unknown code."""
    ref_no: IntArray
    orig_ref: IntArray
    record_id: IntArray

    def __len__(self) -> int:
        return len(self.t)

    def take(self, index: IntArray | slice) -> Rows:
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        return Rows(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Rows)}
        )


def _expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """(12, S) counts -> month (0-based) and service index of each row."""
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    return cell // counts.shape[1], cell % counts.shape[1]


def _channel_cdf(services: Sequence[Service], prof: Profile, year: int) -> FloatArray:
    mobile = 0.07 + 0.09 * (year - 2012)
    rows = []
    for s in services:
        weights = np.array(
            [
                (mobile if c == "mobile_app" else _CHANNEL_BASE[c]) * prof.channel_boost.get(c, 1.0)
                if c in s.channels
                else 0.0
                for c in ELECTRONIC_CHANNELS
            ]
        )
        if weights.sum() == 0:
            weights[0] = 1.0  # offline service: never drawn for electronic rows
        rows.append(np.cumsum(weights) / weights.sum())
    table = np.vstack(rows)
    table[:, -1] = 1.0
    return table


def _rating_cdf(mean: float) -> FloatArray:
    """Probabilities of 1..5 proportional to exp(b*k), with b set to give ``mean``."""
    k = np.arange(1, 6, dtype=np.float64)
    low, high = -5.0, 5.0
    for _ in range(60):
        b = (low + high) / 2
        p = np.exp(b * k)
        if (p @ k) / p.sum() < mean:
            low = b
        else:
            high = b
    p = np.exp(b * k)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return cdf


def _draw_days(
    rng: np.random.Generator, months: IntArray, weights: FloatArray, month_start: IntArray
) -> IntArray:
    """A day of the year for each row, within the row's month, by day weights."""
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    low = cumulative[month_start[months]]
    high = cumulative[month_start[months + 1]]
    target = low + rng.random(len(months)) * (high - low)
    day = np.searchsorted(cumulative, target, side="right") - 1
    clipped: IntArray = np.clip(day, month_start[months], month_start[months + 1] - 1)
    return clipped


def generate(
    cell: DepartmentYear,
    services: Sequence[Service],
    prof: Profile,
    population: Population,
    rng: np.random.Generator,
) -> Rows:
    """The clean rows of a department-year (payments, failed attempts, refunds)."""
    cal = year_calendar(cell.year)
    parts = [_expand(cell.e_success), _expand(cell.failed), _expand(cell.counter)]
    month = np.concatenate([p[0] for p in parts])
    svc = np.concatenate([p[1] for p in parts])
    kind = np.repeat(
        np.array([E_SUCCESS, FAILED, COUNTER_SUCCESS]), [len(p[0]) for p in parts]
    ).astype(np.int64)
    n = len(month)
    electronic = kind != COUNTER_SUCCESS

    # channel
    channel = np.full(n, COUNTER, dtype=np.int64)
    cdf = _channel_cdf(services, prof, cell.year)
    draw = rng.random(int(electronic.sum()))
    channel[electronic] = (draw[:, None] > cdf[svc[electronic]]).sum(axis=1)

    # day and time
    day = np.empty(n, dtype=np.int64)
    for is_counter in (False, True):
        rows = ~electronic if is_counter else electronic
        weights = day_weights(
            cal, counter=is_counter, billing_cycle=prof.billing_cycle and not is_counter
        )
        day[rows] = _draw_days(rng, month[rows], weights, cal.month_start)
    hours = hour_cdf(CHANNELS)
    profile_row = 2 * channel + cal.ramadan[day].astype(np.int64)
    hour = (rng.random(n)[:, None] > hours[profile_row]).sum(axis=1)
    t = cal.midnight[day] + hour * 3600 + rng.integers(0, 3600, n)

    # payer
    mix = np.cumsum(np.array(prof.payer_mix) / sum(prof.payer_mix))
    ptype = np.minimum(np.searchsorted(mix, rng.random(n), side="right"), 2).astype(np.int64)
    payer = population.sample(ptype, rng)

    # amount
    variable = np.array([s.fee_aed is None for s in services])
    fee = np.array([round((s.fee_aed or 0.0) * 100) for s in services], dtype=np.int64)
    typical = np.array([s.typical_aed * 100 for s in services])
    season = np.stack([amount_season(s, prof) for s in services], axis=1)
    category_sigma = np.array([_SIGMA.get(s.category, 0.5) for s in services])
    sigma = np.select(
        [ptype == COMPANY, ptype == GOVERNMENT],
        [np.maximum(category_sigma[svc], prof.company_sigma), np.maximum(category_sigma[svc], 0.8)],
        category_sigma[svc],
    )
    noise = np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)
    size = np.array(payer_multipliers(prof))[ptype]
    raw = typical[svc] * cell.amount_factor * size * season[month, svc] * noise
    is_var = variable[svc]
    calibrated = is_var & (kind == E_SUCCESS)
    drawn = raw[calibrated].sum()
    factor = cell.variable_fils / drawn if drawn > 0 else 1.0
    amount = np.where(is_var, np.maximum(np.round(raw * factor), 100), fee[svc]).astype(np.int64)
    if calibrated.any():
        target_rows = np.flatnonzero(calibrated)
        largest = target_rows[np.argmax(amount[target_rows])]
        amount[largest] += cell.variable_fils - int(amount[target_rows].sum())

    # payment method and bank
    method = _methods(rng, kind, channel, ptype, prof, cell.year)
    bank = np.where(method == DIRECT_DEBIT, population.bank[payer], -1).astype(np.int64)

    minus = np.full(n, -1, dtype=np.int64)
    rows = Rows(
        t=t,
        sort_t=t.copy(),
        svc=svc,
        channel=channel,
        method=method,
        bank=bank,
        kind=kind,
        ptype=ptype,
        payer=payer,
        amount=amount,
        rating=np.zeros(n, dtype=np.int64),
        origin=minus,
        source=minus.copy(),
        dirty=minus.copy(),
        detail=np.zeros(n, dtype=np.int64),
        ref_no=np.zeros(n, dtype=np.int64),
        orig_ref=minus.copy(),
        record_id=np.zeros(n, dtype=np.int64),
    )

    # ratings on a sample of successful electronic payments
    rated = (kind == E_SUCCESS) & (rng.random(n) < RATING_SHARE)
    scores = np.searchsorted(
        _rating_cdf(prof.rating_mean), rng.random(int(rated.sum())), side="right"
    )
    rows.rating[rated] = np.minimum(scores, 4) + 1

    return Rows.concat([rows, _refunds(rng, rows, cell, cal.midnight[-1] + 86_400)])


def _methods(
    rng: np.random.Generator,
    kind: IntArray,
    channel: IntArray,
    ptype: IntArray,
    prof: Profile,
    year: int,
) -> IntArray:
    n = len(kind)
    method = np.full(n, CREDIT_CARD, dtype=np.int64)
    electronic = kind != COUNTER_SUCCESS
    g2 = EDIRHAM_G2_SHARE.get(year, 0.5)

    # counters: cash, card or eDirham
    counter = np.flatnonzero(~electronic)
    method[counter] = np.array([CASH, CREDIT_CARD, EDIRHAM])[
        np.searchsorted([0.55, 0.88], rng.random(len(counter)), side="right")
    ]

    if prof.edirham_share is not None:
        # an exact share by eDirham among successful payments, the rest by credit card
        success = np.flatnonzero(kind == E_SUCCESS)
        shuffled = rng.permutation(success)
        by_edirham = shuffled[: round(prof.edirham_share * len(success))]
        method[by_edirham] = EDIRHAM
        method[by_edirham[: round(g2 * len(by_edirham))]] = EDIRHAM_G2
        failed = np.flatnonzero(kind == FAILED)
        method[failed] = np.where(
            rng.random(len(failed)) < prof.edirham_share, EDIRHAM, CREDIT_CARD
        )
        split = failed[method[failed] == EDIRHAM]
    else:
        rows = np.flatnonzero(electronic)
        p = _METHOD_BASE[ptype[rows]] * np.array([1.0, prof.direct_debit, prof.edirham])
        ch = channel[rows]
        card_only = np.isin(
            ch, [ELECTRONIC_CHANNELS.index(c) for c in ("sms", "ivr", "call_centre")]
        )
        p[card_only, 1:] = 0.0
        p[ch == ELECTRONIC_CHANNELS.index("kiosk"), 1] = 0.0
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        pick = (rng.random(len(rows))[:, None] > cdf[:, :2]).sum(axis=1)
        method[rows] = np.array([CREDIT_CARD, DIRECT_DEBIT, EDIRHAM])[pick]
        split = rows[method[rows] == EDIRHAM]
    method[split[rng.random(len(split)) < g2]] = EDIRHAM_G2
    return method


def _refunds(rng: np.random.Generator, rows: Rows, cell: DepartmentYear, year_end: int) -> Rows:
    """Refunds of successful payments: later, same payer, service and amount."""
    success = np.flatnonzero(
        ((rows.kind == E_SUCCESS) | (rows.kind == COUNTER_SUCCESS))
        & (rows.t < year_end - 2 * 86_400)
    )
    count = min(cell.refunds, len(success))
    chosen = np.sort(rng.choice(success, count, replace=False))
    refunds = rows.take(chosen)
    delay = 86_400 + rng.exponential(7 * 86_400, count).astype(np.int64)
    refunds.t = np.minimum(refunds.t + delay, year_end - 1)
    refunds.sort_t = refunds.t.copy()
    refunds.kind = np.full(count, REFUND, dtype=np.int64)
    refunds.origin = chosen.astype(np.int64)
    refunds.rating = np.zeros(count, dtype=np.int64)
    return refunds


__all__ = ["CHANNELS", "INDIVIDUAL", "METHODS", "Rows", "generate"]
