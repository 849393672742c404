"""The plan: exact row counts and value targets per department, year, month and service.

Computed without generating a row, so it is cheap at any scale. Counts are allocated down
the hierarchy year -> department -> month -> service with largest-remainder rounding, so the
gateway's electronic successful payments add up exactly to the published count times the
scale. Values: fixed-fee services contribute their fee; one factor per year on the typical
amounts of variable-amount services makes the expected total match the published value, and
each department-year later rescales its drawn variable amounts to its share exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from bawaba.reference import Reference, Service
from bawaba.simulator.calendar import BILL_SEASON, day_weights, month_season, year_calendar
from bawaba.simulator.profiles import (
    DIRTY_KINDS,
    DIRTY_RATE,
    PROFILES,
    Profile,
    gateway_target,
    profile,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

RECORD_ID_START = 1_000_001
"""First record_id of every department's system (each department numbers its own)."""


def largest_remainder(total: int, weights: FloatArray | Sequence[float]) -> IntArray:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    w = np.asarray(weights, dtype=np.float64)
    if total == 0:
        return np.zeros(w.shape, dtype=np.int64)
    flat = w.ravel()
    mass = flat.sum()
    if total < 0 or mass <= 0 or (flat < 0).any():
        raise ValueError(f"cannot allocate {total} over weights summing to {mass}")
    quotas = total * flat / mass
    base = np.floor(quotas).astype(np.int64)
    short = total - int(base.sum())
    fraction = np.where(flat > 0, quotas - base, -1.0)
    order = np.argsort(-fraction, kind="stable")
    if short >= 0:
        base[order[:short]] += 1
    else:  # floating-point excess: take it back from the largest quotas
        base[np.argsort(-quotas, kind="stable")[:-short]] -= 1
    result: IntArray = base.reshape(w.shape)
    return result


def service_weights(services: Sequence[Service], prof: Profile) -> FloatArray:
    """Popularity of each service among the department's payments (listing order counts)."""
    rank = np.arange(len(services), dtype=np.float64)
    boost = np.array([prof.category_boost.get(s.category, 1.0) for s in services])
    typical = np.array([s.typical_aed for s in services])
    # earlier-listed services are the department's main ones; dearer ones are paid less often
    return boost * (rank + 1.0) ** -0.7 * typical**-0.4


def amount_season(service: Service, prof: Profile) -> FloatArray:
    """Relative size of a variable amount by month."""
    if prof.billing_cycle and service.category == "bills":
        return np.array(BILL_SEASON, dtype=np.float64)
    return np.ones(12, dtype=np.float64)


def payer_multipliers(prof: Profile) -> tuple[float, float, float]:
    """Size of a variable payment by payer type (individual, company, government), relative
    to the service's typical amount; their mean over the department's payer mix is its
    value boost."""
    raw = np.array([1.0, prof.company_mult, prof.government_mult])
    mix = np.array(prof.payer_mix) / sum(prof.payer_mix)
    scaled = raw * prof.value_boost / float(mix @ raw)
    return float(scaled[0]), float(scaled[1]), float(scaled[2])


@dataclass(frozen=True)
class DepartmentYear:
    """The planned rows of one department in one year."""

    code: str
    index: int
    """Stable department number (seeds its random streams)."""
    year: int
    e_success: IntArray
    """(12, services) successful electronic payments."""
    failed: IntArray
    """(12, services) failed electronic attempts."""
    counter: IntArray
    """(12, services) successful counter payments."""
    refunds: int
    dirty: Mapping[str, int]
    fixed_fils: int
    """Value of the electronic successful payments of fixed-fee services."""
    variable_fils: int
    """Target value of the electronic successful payments of variable-amount services."""
    amount_factor: float
    """This year's factor on the typical amounts of variable-amount services."""
    record_id_start: int

    @property
    def clean_rows(self) -> int:
        return int(self.e_success.sum() + self.failed.sum() + self.counter.sum()) + self.refunds

    @property
    def rows(self) -> int:
        return self.clean_rows + sum(self.dirty.values())

    @property
    def value_fils(self) -> int:
        return self.fixed_fils + self.variable_fils


@dataclass(frozen=True)
class Plan:
    years: tuple[int, ...]
    scale: float
    cells: Mapping[tuple[str, int], DepartmentYear]
    calibrated: Mapping[int, bool]
    """Whether the variable amounts can reach the published value of the year."""

    def get(self, code: str, year: int) -> DepartmentYear:
        return self.cells[(code, year)]


def department_index(code: str) -> int:
    return list(PROFILES).index(code)


def _month_day_mass(year: int, *, counter: bool, billing_cycle: bool) -> FloatArray:
    cal = year_calendar(year)
    weights = day_weights(cal, counter=counter, billing_cycle=billing_cycle)
    return np.add.reduceat(weights, cal.month_start[:12])


def _allocate_months(
    total: int, svc_weight: FloatArray, season: FloatArray, day_mass: FloatArray
) -> IntArray:
    """(12, services) counts: to months first, then to services within each month."""
    cell = season * svc_weight[None, :] * day_mass[:, None]  # (12, S)
    counts = np.zeros(cell.shape, dtype=np.int64)
    if total == 0:
        return counts
    per_month = largest_remainder(total, cell.sum(axis=1))
    for month in range(12):
        counts[month] = largest_remainder(int(per_month[month]), cell[month])
    return counts


def _department_year(
    reference: Reference, code: str, year: int, e_total: int, record_id_start: int
) -> tuple[DepartmentYear, float]:
    """The plan of one department-year, its variable value still to be set, and the
    expected variable value at factor 1 (fils)."""
    prof = profile(code)
    services = reference.department(code).services
    weight = service_weights(services, prof)
    electronic = np.array([s.online for s in services])
    at_counter = np.array(["counter" in s.channels for s in services])
    adoption = prof.adoption_in(year)
    # services offered both ways get the electronic share that makes the department reach
    # `adoption`; the others go wholly one way
    both = electronic & at_counter
    e_only = weight[electronic & ~at_counter].sum()
    split = (adoption * weight.sum() - e_only) / weight[both].sum() if both.any() else 0.0
    split = min(0.99, max(0.01, split))
    e_weight = weight * np.where(both, split, electronic)
    c_weight = weight * np.where(both, 1.0 - split, at_counter & ~electronic)
    counter_total = round(e_total * (1.0 - adoption) / adoption) if e_total else 0
    if c_weight.sum() == 0:  # a department without counters
        counter_total = 0
    season = np.stack([month_season(s.category) for s in services], axis=1)  # (12, S)

    e_success = _allocate_months(
        e_total,
        e_weight,
        season,
        _month_day_mass(year, counter=False, billing_cycle=prof.billing_cycle),
    )
    counter = _allocate_months(
        counter_total, c_weight, season, _month_day_mass(year, counter=True, billing_cycle=False)
    )
    failed_total = round(e_total * prof.failed_rate / (1.0 - prof.failed_rate))
    failed = (
        largest_remainder(failed_total, e_success.astype(np.float64))
        if e_total
        else np.zeros_like(e_success)
    )
    refunds = round((e_total + counter_total) * prof.refund_rate)
    clean = e_total + counter_total + failed_total + refunds
    native = prof.dialect == "warehouse_parquet"  # no text timestamps to break
    dirty_weights = [
        (
            (0.0 if native else 1.0)
            if kind == "bad_timestamp"
            else (2.0 if native and kind == "missing_field" else 1.0)
        )
        # a rotating tie-break, so small departments do not always get the same kinds
        * (1.0 + 1e-6 * ((i + department_index(code) + year) % len(DIRTY_KINDS)))
        for i, kind in enumerate(DIRTY_KINDS)
    ]
    dirty_total = round(clean * DIRTY_RATE) if prof.dirty else 0
    dirty = dict(
        zip(
            DIRTY_KINDS,
            (int(n) for n in largest_remainder(dirty_total, dirty_weights)),
            strict=True,
        )
    )

    fee = np.array([round((s.fee_aed or 0.0) * 100) for s in services], dtype=np.int64)
    fixed = np.array([s.fee_aed is not None for s in services])
    fixed_fils = int((e_success[:, fixed] * fee[fixed]).sum())
    typical = np.array([s.typical_aed * 100 for s in services], dtype=np.float64)
    amount_season_m = np.stack([amount_season(s, prof) for s in services], axis=1)
    expected = float(
        (e_success * amount_season_m * typical[None, :])[:, ~fixed].sum() * prof.value_boost
    )
    cell = DepartmentYear(
        code=code,
        index=department_index(code),
        year=year,
        e_success=e_success,
        failed=failed,
        counter=counter,
        refunds=refunds,
        dirty=dirty,
        fixed_fils=fixed_fils,
        variable_fils=0,
        amount_factor=1.0,
        record_id_start=record_id_start,
    )
    return cell, expected


def build_plan(reference: Reference, scale: float, years: Sequence[int]) -> Plan:
    """The plan of every department for ``years`` (always all departments: a subset run
    takes its cells from the same plan)."""
    codes = [d.code for d in reference.departments]
    for code in codes:
        profile(code)
    cells: dict[tuple[str, int], DepartmentYear] = {}
    calibrated: dict[int, bool] = {}
    next_record_id = dict.fromkeys(codes, RECORD_ID_START)
    for year in sorted(set(years)):
        count, value = gateway_target(year)
        e_total = round(count * scale)
        shares = np.array(
            [
                PROFILES[c].e_share * (1.0 + PROFILES[c].growth * (year - 2012))
                if any(s.online for s in reference.department(c).services)
                else 0.0
                for c in codes
            ]
        )
        per_department = largest_remainder(e_total, shares)
        planned: dict[str, tuple[DepartmentYear, float]] = {}
        for code, e_count in zip(codes, per_department, strict=True):
            planned[code] = _department_year(
                reference, code, year, int(e_count), next_record_id[code]
            )
        target = round(value * scale * 100)
        fixed = sum(p.fixed_fils for p, _ in planned.values())
        expected = np.array([e for _, e in planned.values()])
        factor = (target - fixed) / expected.sum() if expected.sum() > 0 else 0.0
        calibrated[year] = factor > 0
        if factor <= 0:  # fixed fees alone reach the target: keep typical amounts
            factor = 1.0
            variable = np.round(expected).astype(np.int64)
        else:
            variable = largest_remainder(target - fixed, expected)
        for (code, (cell, _)), var in zip(planned.items(), variable, strict=True):
            final = replace(cell, variable_fils=int(var), amount_factor=float(factor))
            cells[(code, year)] = final
            next_record_id[code] += final.rows
    return Plan(years=tuple(sorted(set(years))), scale=scale, cells=cells, calibrated=calibrated)
