"""An independent attacker: what a subscriber can derive about every suppressed cell.

A second implementation of the reader of PRIVACY.md (S2, "What a reader knows"), written
without the disclosure library: it reads only published files and the public catalog (and
the public code lists), never ``bawaba.disclosure``, ``bawaba.publish`` or the analytic
store. It builds the linear program such a reader would and bounds every hidden value:

1. every value of every version of every dataset (a release folder's
   ``<dataset>/<version>/data.parquet``); versions are grouped into *epochs* (the versions in
   force after each publish, by their manifests' ``created_at``) and each epoch is attacked,
   a version's intervals intersected over the epochs it belongs to;
2. equations between two tables of one quantity (``<population>:count|amount``) on their
   common coordinates, derived ones included (a date's weekday, month, quarter and year; an
   hour of the week's weekday and hour; a month's quarter and year; a quarter's year); a
   table restricted to ``payment_method = direct_debit`` equals the matching slice of a table
   that has the coordinate and is at most a table that cannot select it; successful payments
   are at most the attempts (:data:`SUBSETS`);
3. per cell: ``low x n <= amount <= high x n`` from the cell's per-transaction limits (the
   band of an ``amount_band`` cell; a fixed fee read off any published cell of the service,
   else its ``fee_band``), counts integral (widths counted in whole numbers), a row that
   exists has at least one transaction of its population, amounts at least 0;
4. published derived measures across tables as equations within their rounding (half a unit
   of the last decimal): service-maturity's ``adoption_pct`` and ``failure_rate_pct`` of a
   department-year. The other rates and growths are only published beside the values they
   are computed from, so they add nothing;
5. counts and amounts in one program, coupled by 3.

The program splits into connected components. Within one, feasible points come first:
vertices of random objectives (each with its opposite) give every hidden value an interval
it certainly reaches; interval propagation over the constraints gives every value a bound it
certainly cannot exceed. A value is left alone once those show it wide enough by the
reader's own measure (a count at least k whole numbers wide; an amount at least p % of its
largest possible value); the rest get exact min/max programs. The attacker never sees a true
value; the judge of the tests does (see ``tests/test_attacker.py``).

Run ``PYTHONPATH=platform .venv/bin/python -m tests.attacker DATASETS_DIR`` to attack a
published release and print, per dataset, how many suppressed cells were bounded and how
many recovered (certainly, whatever their true values).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from bawaba.catalog import Catalog, Dataset
from bawaba.catalog.load import load_catalog
from bawaba.reference import load_reference

__all__ = [
    "HIGH",
    "LOW",
    "SUBSETS",
    "Attack",
    "Share",
    "Table",
    "Term",
    "attack",
    "attack_release",
    "band_limits",
    "load_epochs",
    "with_fixed_fees",
]

LOW = "per_transaction_low"
HIGH = "per_transaction_high"
"""Optional columns of a :class:`Table` frame: a cell's amount lies in [low x n, high x n]."""

SUBSETS: frozenset[tuple[str, str]] = frozenset({("epay_success", "epay_attempts")})
"""(part, whole): every row of ``part`` is a row of ``whole`` (a successful payment is an
attempt), so a table of the part is at most a table of the whole on common coordinates."""

Kind = Literal["count", "amount"]
_TOL = 1e-6


# -- the abstract input ------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One published table (one version of a dataset) as a reader holds it."""

    name: str
    population: str
    """The rows whose existence makes a cell exist (the catalog's privacy population)."""
    coordinates: tuple[str, ...]
    """Key columns and every coordinate a reader derives from them (weekday, year...)."""
    frame: pl.DataFrame
    """One row per cell: the coordinates, the measures (null where suppressed), the boolean
    ``suppressed`` and optionally :data:`LOW` / :data:`HIGH` per-transaction limits."""
    quantities: Mapping[str, str]
    """``<population>:count|amount`` -> measure column."""
    restriction: Mapping[str, str] = field(default_factory=dict)
    k: int = 10
    p: float = 15.0
    version: str = "v1"

    @property
    def hidden(self) -> NDArray[np.bool_]:
        return self.frame.get_column("suppressed").fill_null(value=False).to_numpy()


@dataclass(frozen=True)
class Term:
    """``sign`` x the population total of ``quantity`` over the cells matching ``where``."""

    sign: float
    quantity: str
    where: Mapping[str, str]


@dataclass(frozen=True)
class Share:
    """A published percentage known within its rounding: low <= 100 x num / den <= high."""

    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...]
    low: float
    high: float


@dataclass(frozen=True)
class Attack:
    """The reader's interval of every hidden value (one row per suppressed cell and
    quantity): ``table, version, row, quantity, kind, k, p, lo, hi, exact_lo, exact_hi``.

    An end that is not exact is an inner bound (a value the reader knows to be possible),
    left so because the interval was already shown wide enough."""

    values: pl.DataFrame
    seconds: float
    components: int
    exact_lps: int

    def certainly_recovered(self) -> pl.DataFrame:
        """Values narrowed whatever their truth: a count fewer than k whole numbers wide,
        an amount narrower than p % of its smallest possible value."""
        width = pl.col("hi") - pl.col("lo")
        counts = (pl.col("hi") + _TOL).floor() - (pl.col("lo") - _TOL).ceil()
        narrow = (
            pl.when(pl.col("kind") == "count")
            .then(counts < pl.col("k"))
            .otherwise(width < pl.col("p") / 100 * pl.col("lo") - _TOL)
        )
        return self.values.filter(pl.col("exact_lo") & pl.col("exact_hi") & narrow)


def kind_of(quantity: str) -> Kind:
    return "count" if quantity.endswith(":count") else "amount"


def population_of(quantity: str) -> str:
    return quantity.rpartition(":")[0]


# -- the linear program ------------------------------------------------------------------


@dataclass
class _Rows:
    """Constraint rows in coordinate form: sum(coef x var) <= rhs, or == rhs."""

    row: list[NDArray[np.int64]] = field(default_factory=list)
    col: list[NDArray[np.int64]] = field(default_factory=list)
    coef: list[NDArray[np.float64]] = field(default_factory=list)
    rhs: list[NDArray[np.float64]] = field(default_factory=list)
    n: int = 0

    def add(
        self,
        group: NDArray[np.int64],
        col: NDArray[np.int64],
        coef: NDArray[np.float64],
        rhs: NDArray[np.float64],
    ) -> None:
        """Rows numbered 0..len(rhs)-1 by ``group``, appended after the existing ones."""
        self.row.append(group + self.n)
        self.col.append(col)
        self.coef.append(coef)
        self.rhs.append(rhs)
        self.n += len(rhs)

    def matrix(self, n_vars: int) -> tuple[sp.csr_matrix, NDArray[np.float64]]:
        if not self.n:
            return sp.csr_matrix((0, n_vars)), np.zeros(0)
        a = sp.coo_matrix(
            (np.concatenate(self.coef), (np.concatenate(self.row), np.concatenate(self.col))),
            shape=(self.n, n_vars),
        ).tocsr()
        a.sum_duplicates()
        a.eliminate_zeros()
        return a, np.concatenate(self.rhs)


def _long(table: Table, quantity: str, first_var: int, on: Sequence[str]) -> pl.DataFrame:
    """The table's cells of ``quantity``: keys ``on`` as text, ``value`` (null where
    hidden) and ``var`` (the variable of a hidden cell, else -1)."""
    hidden = table.hidden
    var = np.full(len(hidden), -1, dtype=np.int64)
    var[hidden] = first_var + np.arange(int(hidden.sum()))
    return table.frame.select(
        *(pl.col(c).cast(pl.String) for c in on),
        pl.col(table.quantities[quantity]).cast(pl.Float64).alias("value"),
        pl.Series("var", var),
    )


def _add_groups(rows: _Rows, frame: pl.DataFrame, on: Sequence[str]) -> None:
    """Sum of ``sign x (value or var)`` over each group of ``on`` <= or == 0: the groups
    that hold a variable become rows ``sum(sign x var) (<=|==) -sum(sign x value)``."""
    hidden = pl.col("var") >= 0
    grouped = (
        frame.group_by(on or [pl.lit(0).alias("all")])
        .agg(
            pl.col("var").filter(hidden),
            pl.col("sign").filter(hidden),
            (-(pl.col("sign") * pl.col("value").fill_null(0.0)).sum()).alias("rhs"),
        )
        .filter(pl.col("var").list.len() > 0)
        .with_row_index("group")
    )
    if not grouped.height:
        return
    flat = grouped.select("group", "var", "sign").explode("var", "sign")
    rows.add(
        flat.get_column("group").cast(pl.Int64).to_numpy(),
        flat.get_column("var").cast(pl.Int64).to_numpy(),
        flat.get_column("sign").cast(pl.Float64).to_numpy(),
        grouped.get_column("rhs").to_numpy(),
    )


@dataclass
class _Program:
    tables: Sequence[Table]
    first: dict[tuple[int, str], int] = field(default_factory=dict)
    var_table: list[int] = field(default_factory=list)
    var_row: list[int] = field(default_factory=list)
    var_quantity: list[str] = field(default_factory=list)
    eq: _Rows = field(default_factory=_Rows)
    ub: _Rows = field(default_factory=_Rows)
    lower: list[float] = field(default_factory=list)
    newest: int = 0
    """The last month of the newest table by month or day (see ``_published_periods``)."""

    def __post_init__(self) -> None:
        self.newest = max(
            (m for t in self.tables if _fine(t) and (m := _last_month(t)) is not None),
            default=0,
        )
        for t, table in enumerate(self.tables):
            rows = np.flatnonzero(table.hidden)
            for quantity in sorted(table.quantities):
                self.first[(t, quantity)] = len(self.var_row)
                self.var_table += [t] * len(rows)
                self.var_row += rows.tolist()
                self.var_quantity += [quantity] * len(rows)
                single = len({population_of(q) for q in table.quantities}) == 1
                exists = kind_of(quantity) == "count" and single
                # A row exists because its population has a row there: >= 1 transaction.
                self.lower += [1.0 if exists else 0.0] * len(rows)

    @property
    def n_vars(self) -> int:
        return len(self.var_row)

    def long(self, t: int, quantity: str, on: Sequence[str]) -> pl.DataFrame:
        return _long(self.tables[t], quantity, self.first[(t, quantity)], on)


def _relate(program: _Program, x: int, qx: str, y: int, qy: str, part: bool) -> None:
    """Rows saying that table ``x`` (quantity ``qx``) equals table ``y`` (``qy``) on their
    common coordinates, or is at most it: when ``qx`` is a part of ``qy``, or when ``x`` is
    restricted to a slice that ``y`` has no coordinate to select."""
    a, b = program.tables[x], program.tables[y]
    if any(a.restriction.get(c, v) != v for c, v in b.restriction.items()):
        return  # disjoint slices
    only_a = {c: v for c, v in a.restriction.items() if c not in b.restriction}
    only_b = {c: v for c, v in b.restriction.items() if c not in a.restriction}
    if only_b:
        if not part and not only_a:
            _relate(program, y, qy, x, qx, part)  # the restricted one goes first
        return
    on = [c for c in a.coordinates if c in b.coordinates]
    left = program.long(x, qx, on).with_columns(sign=pl.lit(1.0))
    right = program.long(y, qy, on).with_columns(sign=pl.lit(-1.0))
    mask = np.ones(b.frame.height, dtype=np.bool_)
    for c, v in only_a.items():
        if c in b.coordinates:
            mask &= (b.frame.get_column(c).cast(pl.String) == v).to_numpy()
    smaller = part or any(c not in b.coordinates for c in only_a)
    both = _published_periods(
        pl.concat([left, right.filter(pl.Series(mask))]), (a, b), on, program.newest
    )
    _add_groups(program.ub if smaller else program.eq, both, on)


def _fine(table: Table) -> bool:
    return "month" in table.coordinates or "date" in table.coordinates


def _published_periods(
    frame: pl.DataFrame, tables: Sequence[Table], on: Sequence[str], newest: int
) -> pl.DataFrame:
    """``frame`` without the periods one of ``tables`` says nothing of. A table by quarter
    or year publishes a period once it has ended: a period it does not hold is not known to
    be empty. A table by month or day that stops before the newest such table (a version
    left behind by a later publish) covers only the months it holds: a period it does not
    hold entirely is not its sum; so is a year that a table by quarter holds only some
    quarters of."""
    for table in tables:
        if not _fine(table):
            for period in ("quarter", "year"):
                if period in on and period in table.frame.columns:
                    held = table.frame.get_column(period).cast(pl.String).unique()
                    frame = frame.filter(pl.col(period).cast(pl.String).is_in(held.implode()))
                    break
            # A year it holds some quarters of is its sum only once the year has ended in it
            # (a version left behind by a later publish stops at a quarter).
            last = _last_month(table)
            if last is not None:
                frame = _until(frame, on, last)
            continue
        last = _last_month(table)
        if last is None or last >= newest:
            continue
        frame = _until(frame, on, last)
    return frame


def _until(frame: pl.DataFrame, on: Sequence[str], last: int) -> pl.DataFrame:
    """``frame`` without the periods on ``on`` that end after month ``last``."""
    if "month" in on:
        month = pl.col("month").cast(pl.String)
        return frame.filter(_yyyymm(month.str.slice(0, 4), month.str.slice(5, 2)) <= last)
    if "date" in on:
        day = pl.col("date").cast(pl.Date)
        return frame.filter(day.dt.year() * 100 + day.dt.month() <= last)
    if "quarter" in on:
        quarter = pl.col("quarter").cast(pl.String)
        months = quarter.str.slice(6, 1).cast(pl.Int64) * 3
        return frame.filter(quarter.str.slice(0, 4).cast(pl.Int64) * 100 + months <= last)
    if "year" in on:
        return frame.filter(pl.col("year").cast(pl.Int64) * 100 + 12 <= last)
    return frame


def _yyyymm(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    return year.cast(pl.Int64) * 100 + month.cast(pl.Int64)


def _last_month(table: Table) -> int | None:
    """The last month (``YYYYMM``) a table's version covers, by its finest time
    coordinate; None for a table without one."""
    frame = table.frame
    if frame.height == 0:
        return None
    if "date" in table.coordinates:
        day = frame.get_column("date").cast(pl.Date).max()
        return None if day is None else int(day.year * 100 + day.month)  # type: ignore[union-attr]
    if "month" in table.coordinates:
        month = str(frame.get_column("month").cast(pl.String).max())
        return int(month[:4]) * 100 + int(month[5:7])
    if "quarter" in table.coordinates:
        quarter = str(frame.get_column("quarter").cast(pl.String).max())
        return int(quarter[:4]) * 100 + int(quarter[6]) * 3
    if "year" in table.coordinates:
        return int(frame.get_column("year").cast(pl.Int64).max()) * 100 + 12  # type: ignore[arg-type]
    return None


def _link(program: _Program) -> None:
    """Rows for every pair of tables of one quantity, and of a part and its whole."""
    tables = program.tables
    for i, a in enumerate(tables):
        for j, b in enumerate(tables):
            for qa in a.quantities:
                for qb in b.quantities:
                    if qa == qb and i < j:
                        _relate(program, i, qa, j, qb, part=False)
                    elif (population_of(qa), population_of(qb)) in SUBSETS and kind_of(
                        qa
                    ) == kind_of(qb):
                        _relate(program, i, qa, j, qb, part=True)


def _cells(program: _Program) -> None:
    """Per-cell rows: amount between low x n and high x n; a row of a table mixing
    populations holds at least one of its counted rows."""
    for t, table in enumerate(program.tables):
        hidden = np.flatnonzero(table.hidden)
        if not len(hidden):
            continue
        counts = sorted(q for q in table.quantities if kind_of(q) == "count")
        if len({population_of(q) for q in counts}) > 1:
            n = len(hidden)
            group = np.tile(np.arange(n), len(counts))
            cols = np.concatenate([program.first[(t, q)] + np.arange(n) for q in counts])
            program.ub.add(group, cols, -np.ones(len(cols)), -np.ones(n))
        if LOW not in table.frame.columns:
            continue
        for amount in (q for q in table.quantities if kind_of(q) == "amount"):
            count = f"{population_of(amount)}:count"
            if count not in table.quantities:
                continue
            low = table.frame.get_column(LOW).cast(pl.Float64).to_numpy()[hidden]
            high = table.frame.get_column(HIGH).cast(pl.Float64).to_numpy()[hidden]
            a = program.first[(t, amount)] + np.arange(len(hidden))
            counted = program.first[(t, count)] + np.arange(len(hidden))
            for bound, sign in ((low, -1.0), (high, 1.0)):
                # sign x (amount - bound x n) <= 0 where the bound is known.
                known = np.isfinite(bound)
                m = int(known.sum())
                if m:
                    group = np.tile(np.arange(m), 2)
                    cols = np.concatenate([a[known], counted[known]])
                    coef = np.concatenate([np.full(m, sign), -sign * bound[known]])
                    program.ub.add(group, cols, coef, np.zeros(m))


def _expression(program: _Program, terms: Sequence[Term]) -> tuple[dict[int, float], float]:
    """Variables -> coefficients, and the constant, of a sum of population totals."""
    coefs: dict[int, float] = {}
    constant = 0.0
    for term in terms:
        holders = [
            t
            for t, table in enumerate(program.tables)
            if term.quantity in table.quantities
            and not table.restriction
            and set(term.where) <= set(table.coordinates)
        ]
        if not holders:
            raise LookupError(f"no table holds {term.quantity} by {sorted(term.where)}")
        t = min(holders, key=lambda h: program.tables[h].frame.height)
        cells = program.long(t, term.quantity, list(term.where))
        for c, v in term.where.items():
            cells = cells.filter(pl.col(c) == v)
        constant += term.sign * float(cells.get_column("value").fill_null(0.0).sum())
        for var in cells.filter(pl.col("var") >= 0).get_column("var").to_list():
            coefs[var] = coefs.get(var, 0.0) + term.sign
    return coefs, constant


def _shares(program: _Program, shares: Iterable[Share]) -> None:
    """100 x num - high x den <= 0 and low x den - 100 x num <= 0."""
    for share in shares:
        num, num_c = _expression(program, share.numerator)
        den, den_c = _expression(program, share.denominator)
        for scale_num, scale_den in ((100.0, -share.high), (-100.0, share.low)):
            coefs = {v: scale_num * c for v, c in num.items()}
            for v, c in den.items():
                coefs[v] = coefs.get(v, 0.0) + scale_den * c
            rhs = -(scale_num * num_c + scale_den * den_c)
            if not coefs:
                continue
            cols = np.array(sorted(coefs), dtype=np.int64)
            program.ub.add(
                np.zeros(len(cols), dtype=np.int64),
                cols,
                np.array([coefs[c] for c in cols]),
                np.array([rhs]),
            )


# -- solving -----------------------------------------------------------------------------


@dataclass
class _Component:
    a_eq: sp.csr_matrix
    b_eq: NDArray[np.float64]
    a_ub: sp.csr_matrix
    b_ub: NDArray[np.float64]
    lower: NDArray[np.float64]
    cap: NDArray[np.float64]
    solves: int = 0

    def solve(self, c: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """A vertex minimising ``c`` (None if HiGHS finds none: then nothing is learnt)."""
        self.solves += 1
        res = linprog(
            c,
            A_ub=self.a_ub if self.a_ub.shape[0] else None,
            b_ub=self.b_ub if self.a_ub.shape[0] else None,
            A_eq=self.a_eq if self.a_eq.shape[0] else None,
            b_eq=self.b_eq if self.a_eq.shape[0] else None,
            bounds=np.column_stack([self.lower, self.cap]),
            method="highs",
        )
        if res.status != 0:
            if res.status == 2:
                raise ValueError("the reader's program is infeasible: a constraint is wrong")
            return None
        x: NDArray[np.float64] = res.x
        return x


def _wide(
    is_count: NDArray[np.bool_],
    p: NDArray[np.float64],
    k: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Wide enough, whatever the true value, when [lo, hi] lies inside the interval: a
    count k whole numbers; an amount with ``hi - lo >= p % of hi``. The true value is at
    most the interval's top, and ``(1 - p/100) x top - bottom`` only grows as the interval
    does, so a reader's interval of at least [lo, hi] is at least p % of the true value.
    """
    counts = np.floor(hi + _TOL) - np.ceil(lo - _TOL) >= k
    with np.errstate(invalid="ignore"):
        amounts = (1 - p / 100) * hi - lo >= -_TOL
    return np.where(is_count, counts, amounts)


def _solve_component(
    comp: _Component,
    is_count: NDArray[np.bool_],
    k: NDArray[np.float64],
    p: NDArray[np.float64],
    rng: np.random.Generator,
    rounds: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    n = len(comp.lower)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    scale = np.where(is_count, 1.0, 0.01)

    def seen(x: NDArray[np.float64] | None) -> None:
        if x is not None:
            np.minimum(lo, x, out=lo)
            np.maximum(hi, x, out=hi)

    for _ in range(rounds):
        c = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.5, n) * scale
        seen(comp.solve(c))
        seen(comp.solve(-c))
        if (lo <= hi).all() and _wide(is_count, p, k, lo, hi).all():
            break
    # Then push small random groups of the values not yet shown wide up, then down: a
    # group small enough that its members seldom compete for the same slack.
    stalled = 0
    while stalled < 3:
        open_ = np.flatnonzero(~_wide(is_count, p, k, lo, hi))
        if len(open_) < 4:
            break
        group = rng.choice(open_, max(2, len(open_) // 8), replace=False)
        c = np.zeros(n)
        c[group] = scale[group]
        seen(comp.solve(-c))
        seen(comp.solve(c))
        left = int((~_wide(is_count, p, k, lo, hi)).sum())
        # Progress is at least one value shown wide (a small group would ask for none).
        stalled = stalled + 1 if left > len(open_) - max(1, len(group) // 4) else 0
    exact_lo = np.zeros(n, dtype=np.bool_)
    exact_hi = np.zeros(n, dtype=np.bool_)
    if not (lo <= hi).all():
        raise ValueError("no feasible point found for a component of the reader's program")
    at_cap = hi >= comp.cap * (1 - 1e-9)
    hi[at_cap] = np.inf
    for j in np.flatnonzero(~_wide(is_count, p, k, lo, hi)):
        one = slice(j, j + 1)
        if _wide(is_count[one], p[one], k[one], lo[one], hi[one])[0]:
            continue  # shown wide by a vertex found for another value
        for sign in (-1.0, 1.0):
            c = np.zeros(n)
            c[j] = sign
            x = comp.solve(c)
            if x is None:
                continue
            seen(x)
            if sign < 0:
                hi[j] = np.inf if x[j] >= comp.cap[j] * (1 - 1e-9) else x[j]
                exact_hi[j] = True
                if _wide(is_count[one], p[one], k[one], lo[one], hi[one])[0]:
                    break
            else:
                lo[j] = x[j]
                exact_lo[j] = True
        hi[hi >= comp.cap * (1 - 1e-9)] = np.inf
    return lo, hi, exact_lo, exact_hi


def attack(
    tables: Sequence[Table],
    shares: Iterable[Share] = (),
    *,
    rounds: int = 4,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Attack:
    """The reader's interval of every hidden value of ``tables`` (one epoch); ``log``
    hears how the time is spent."""
    started = time.perf_counter()
    say = log or (lambda _: None)
    program = _Program(tables)
    _link(program)
    _cells(program)
    _shares(program, shares)
    n = program.n_vars
    a_eq, b_eq = program.eq.matrix(n)
    a_ub, b_ub = program.ub.matrix(n)
    lower = np.array(program.lower)
    quantity = np.array(program.var_quantity, dtype=object)
    is_count = np.array([kind_of(q) == "count" for q in program.var_quantity], dtype=np.bool_)
    table_of = np.array(program.var_table, dtype=np.int64)
    k = np.array([tables[t].k for t in program.var_table], dtype=np.float64)
    p = np.array([tables[t].p for t in program.var_table], dtype=np.float64)
    cap = _caps(tables, quantity)
    lo = lower.copy()
    hi = np.full(n, np.inf)
    exact_lo = np.zeros(n, dtype=np.bool_)
    exact_hi = np.zeros(n, dtype=np.bool_)
    say(
        f"program: {n} variables, {a_eq.shape[0]} equations, {a_ub.shape[0]} inequalities "
        f"in {time.perf_counter() - started:.1f} s"
    )
    incidence = sp.vstack([a_eq, a_ub]).tocsr()
    m = incidence.shape[0]
    graph = sp.bmat([[None, incidence], [incidence.T, None]]).tocsr() if n else None
    nodes = connected_components(graph, directed=False)[1] if graph is not None else []
    labels, row_label = np.asarray(nodes[m:]), np.asarray(nodes[:m])
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(np.asarray(labels)[order])) + 1
    comps = np.split(order, bounds) if n else []
    exact = 0
    eq_label = row_label[: a_eq.shape[0]]
    ub_label = row_label[a_eq.shape[0] :]
    for members in comps:
        label = labels[members[0]]
        eq_rows = np.flatnonzero(eq_label == label)
        ub_rows = np.flatnonzero(ub_label == label)
        if not len(eq_rows) and not len(ub_rows):
            continue  # nothing constrains it: unbounded above
        comp = _Component(
            a_eq[eq_rows][:, members],
            b_eq[eq_rows],
            a_ub[ub_rows][:, members],
            b_ub[ub_rows],
            lower[members],
            cap[members],
        )
        got = _solve_component(comp, is_count[members], k[members], p[members], rng, rounds)
        lo[members], hi[members], exact_lo[members], exact_hi[members] = got
        exact += comp.solves
        if len(members) > 200:
            say(f"component of {len(members)} variables: {comp.solves} programs solved")
    values = pl.DataFrame(
        {
            "table": [tables[t].name for t in table_of],
            "version": [tables[t].version for t in table_of],
            "row": np.array(program.var_row, dtype=np.int64),
            "quantity": list(quantity),
            "kind": np.where(is_count, "count", "amount"),
            "k": k.astype(np.int64),
            "p": p,
            "lo": lo,
            "hi": hi,
            "exact_lo": exact_lo,
            "exact_hi": exact_hi,
        },
        schema_overrides={"table": pl.String, "version": pl.String, "quantity": pl.String},
    )
    return Attack(values, time.perf_counter() - started, len(comps), exact)


def _caps(tables: Sequence[Table], quantity: NDArray[np.object_]) -> NDArray[np.float64]:
    """A box far above any true value (so reaching it proves a value wide): four times the
    largest published total of the quantity, and at least 10**7 transactions or 10**9 AED."""
    totals: dict[str, float] = {}
    for table in tables:
        for q, column in table.quantities.items():
            total = float(table.frame.get_column(column).cast(pl.Float64).fill_null(0.0).sum())
            totals[q] = max(totals.get(q, 0.0), total)
    floor = {"count": 1e7, "amount": 1e9}
    return np.array(
        [max(4 * totals.get(q, 0.0), floor[kind_of(q)]) for q in quantity], dtype=np.float64
    )


# -- reading a release -------------------------------------------------------------------

_DERIVED: dict[str, tuple[str, ...]] = {
    "date": ("weekday", "month", "quarter", "year"),
    "month": ("quarter", "year"),
    "quarter": ("year",),
    "hour_of_week": ("weekday", "hour"),
}


def _derive(frame: pl.DataFrame, keys: Sequence[str]) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The frame with every coordinate a reader derives from its keys."""
    added: list[str] = []
    if "date" in keys:
        day = pl.col("date")
        frame = frame.with_columns(
            ((day.dt.weekday() % 7).cast(pl.Int64)).alias("weekday"),  # 0 = Sunday
            day.dt.strftime("%Y-%m").alias("month"),
        )
    if "month" in frame.columns and "quarter" not in frame.columns:
        month = pl.col("month").str.slice(5, 2).cast(pl.Int32)
        frame = frame.with_columns(
            (pl.col("month").str.slice(0, 4) + "-Q" + ((month - 1) // 3 + 1).cast(pl.String)).alias(
                "quarter"
            )
        )
    if "quarter" in frame.columns and "year" not in frame.columns:
        frame = frame.with_columns(pl.col("quarter").str.slice(0, 4).cast(pl.Int64).alias("year"))
    if "hour_of_week" in keys:
        # Releases up to now publish hours of the week from 128 on wrapped into -128..-1
        # (an 8-bit overflow upstream): a reader undoes it, since 0..167 wraps one to one.
        how = pl.col("hour_of_week")
        how = pl.when(how < 0).then(how + 256).otherwise(how)
        frame = frame.with_columns((how // 24).alias("weekday"), (how % 24).alias("hour"))
    for key in keys:
        added += [c for c in _DERIVED.get(key, ()) if c not in keys and c not in added]
    return frame, (*keys, *added)


def band_limits() -> dict[str, tuple[float, float]]:
    """Amount band code -> (low, high) per transaction in AED (open-ended: high = inf)."""
    limits: dict[str, tuple[float, float]] = {}
    for band in load_reference().amount_bands:
        low, _, high = band.code.partition("-")

        def aed(text: str) -> float:
            text = text.rstrip("+")
            return float(text[:-1]) * 1000 if text.endswith("k") else float(text)

        limits[band.code] = (aed(low), aed(high) if high else math.inf)
    return limits


def with_fixed_fees(
    tables: Sequence[Table], services: Mapping[str, tuple[float, float]]
) -> list[Table]:
    """Tables by service with the per-transaction limits of fixed-fee ``services``
    (service -> the limits its fee band gives): the fee itself where any published cell of
    the service shows it (amount / transactions, the same in every such cell), else the band.
    """
    fees: dict[str, set[float]] = {}
    for table in tables:
        if "service" not in table.coordinates:
            continue
        for amount in (q for q in table.quantities if kind_of(q) == "amount"):
            count = f"{population_of(amount)}:count"
            if count not in table.quantities:
                continue
            shown = table.frame.filter(~pl.col("suppressed").fill_null(value=False))
            ratio = shown.select(
                pl.col("service").cast(pl.String),
                (
                    pl.col(table.quantities[amount]).cast(pl.Float64)
                    / pl.col(table.quantities[count])
                ).alias("fee"),
            )
            for service, fee in ratio.filter(pl.col("service").is_in(list(services))).rows():
                fees.setdefault(service, set()).add(round(fee, 4))
    limits: dict[str, tuple[float, float]] = {}
    for service, band in services.items():
        seen = fees.get(service, set())
        if len(seen) == 1:
            fee = seen.pop()
            limits[service] = (fee, fee)
        elif not seen:
            limits[service] = band
        # Published cells that disagree: the fee is not fixed after all; nothing is known.
    out = []
    for table in tables:
        if "service" not in table.coordinates or not any(
            kind_of(q) == "amount" for q in table.quantities
        ):
            out.append(table)
            continue
        service = table.frame.get_column("service").cast(pl.String)
        low = service.replace_strict(
            {s: lo for s, (lo, _) in limits.items()}, default=None, return_dtype=pl.Float64
        )
        high = service.replace_strict(
            {s: hi for s, (_, hi) in limits.items()}, default=None, return_dtype=pl.Float64
        )
        frame = table.frame
        if LOW in frame.columns:
            # Both a band and a fee: the tighter of the two.
            low = pl.select(pl.max_horizontal(frame.get_column(LOW), low)).to_series()
            high = pl.select(pl.min_horizontal(frame.get_column(HIGH), high)).to_series()
        frame = frame.with_columns(low.alias(LOW), high.alias(HIGH))
        out.append(dataclasses.replace(table, frame=frame))
    return out


def _quantities(dataset: Dataset) -> dict[str, str]:
    assert dataset.privacy is not None
    out = {}
    for f in dataset.by_role("measure"):
        if not f.additive:
            continue
        population = f.population or dataset.privacy.population
        kind = "count" if f.type == "integer" else "amount"
        out[f"{population}:{kind}"] = f.name
    return out


def _table(dataset: Dataset, frame: pl.DataFrame, version: str) -> Table:
    assert dataset.privacy is not None
    keys = [f.name for f in dataset.fields if f.role in ("time", "dimension")]
    frame, coordinates = _derive(frame, keys)
    if "amount_band" in keys:
        limits = band_limits()
        band = frame.get_column("amount_band")
        frame = frame.with_columns(
            band.replace_strict({b: lo for b, (lo, _) in limits.items()}).alias(LOW),
            band.replace_strict({b: hi for b, (_, hi) in limits.items()}).alias(HIGH),
        )
    return Table(
        name=dataset.id,
        population=dataset.privacy.population,
        coordinates=coordinates,
        frame=frame,
        quantities=_quantities(dataset),
        restriction=dict(dataset.privacy.restriction),
        k=dataset.privacy.k,
        p=dataset.privacy.p,
        version=version,
    )


def _maturity_shares(frame: pl.DataFrame) -> list[Share]:
    """service-maturity's adoption and failure rates of each published department-year."""
    half = 0.005 + 1e-9  # rounded to two decimals
    shares = []
    for row in frame.filter(~pl.col("suppressed").fill_null(value=False)).iter_rows(named=True):
        where = {"year": str(row["year"]), "department": str(row["department"])}
        e = Term(1.0, "epay_success:count", where)
        if row["adoption_pct"] is not None:
            c = Term(1.0, "counter_success:count", where)
            pct = float(row["adoption_pct"])
            shares.append(Share((e,), (e, c), pct - half, pct + half))
        if row["failure_rate_pct"] is not None:
            attempts = Term(1.0, "epay_attempts:count", where)
            pct = float(row["failure_rate_pct"])
            failed = (attempts, Term(-1.0, "epay_success:count", where))
            shares.append(Share(failed, (attempts,), pct - half, pct + half))
    return shares


@dataclass(frozen=True)
class Epoch:
    """The versions in force after one publish: tables, and published derived measures."""

    created_at: str
    tables: list[Table]
    shares: list[Share]


def _versions(root: Path, dataset: str) -> list[tuple[str, str, str]]:
    """(created_at, release, version) of every version folder of ``dataset``."""
    found = []
    for folder in sorted((root / dataset).glob("v*")):
        path = folder / "manifest.json"
        if folder.is_dir() and path.exists() and (folder / "data.parquet").exists():
            manifest = json.loads(path.read_bytes())
            release = str(manifest.get("lineage", {}).get("release", manifest["created_at"]))
            found.append((str(manifest["created_at"]), release, folder.name))
    return sorted(found)


def load_epochs(root: Path, catalog: Catalog) -> list[Epoch]:
    """Every epoch of the release folder ``root`` (see the module docstring): one per
    publish (the release its manifests name), holding each dataset's newest version then."""
    found = {d.id: _versions(root, d.id) for d in catalog.datasets}
    ends: dict[str, str] = {}
    for listed in found.values():
        for at, release, _ in listed:
            ends[release] = max(ends.get(release, at), at)
    moments = sorted(ends.values())
    versions = {d: [(at, v) for at, _, v in vs] for d, vs in found.items()}
    cache: dict[tuple[str, str], pl.DataFrame] = {}

    def frame(dataset: str, version: str) -> pl.DataFrame:
        if (dataset, version) not in cache:
            cache[(dataset, version)] = pl.read_parquet(root / dataset / version / "data.parquet")
        return cache[(dataset, version)]

    fixed: dict[str, tuple[float, float]] = {}
    epochs = []
    for moment in moments:
        tables, shares = [], []
        for dataset in catalog.datasets:
            live = [v for at, v in versions[dataset.id] if at <= moment]
            if not live:
                continue
            data = frame(dataset.id, live[-1])
            if dataset.id == "eservice-catalog":
                limits = band_limits()
                fixed = {
                    s: limits[b]
                    for s, b, t in data.select("service", "fee_band", "fee_type").rows()
                    if t == "fixed"
                }
            if dataset.id == "service-maturity":
                shares = _maturity_shares(data)
            if dataset.privacy is not None and _quantities(dataset):
                tables.append(_table(dataset, data, live[-1]))
        epochs.append(Epoch(moment, with_fixed_fees(tables, fixed), shares))
    return epochs


def attack_release(
    root: Path, catalog: Catalog, log: Callable[[str], None] | None = None
) -> pl.DataFrame:
    """Every hidden value of every version in ``root``, its interval intersected over the
    epochs that hold its version; with the table's k and p."""
    found = []
    for epoch in load_epochs(root, catalog):
        # A share names tables that may be missing from an early epoch: then drop it.
        holders = {q for t in epoch.tables for q in t.quantities}
        shares = [
            s
            for s in epoch.shares
            if all(t.quantity in holders for t in (*s.numerator, *s.denominator))
        ]
        found.append(attack(epoch.tables, shares, log=log).values)
    if not found:
        return Attack(pl.DataFrame(), 0.0, 0, 0).values
    keys = ["table", "version", "row", "quantity", "kind", "k", "p"]
    return (
        pl.concat(found)
        .sort("lo", descending=True)
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("lo").first(),
            pl.col("exact_lo").first(),
            pl.col("hi", "exact_hi").sort_by("hi").first(),
        )
        .sort(keys)
    )


def _summary(values: pl.DataFrame) -> pl.DataFrame:
    narrow = Attack(values, 0.0, 0, 0).certainly_recovered()
    cells = values.group_by("table", "version").agg(pl.struct("row").n_unique().alias("bounded"))
    recovered = narrow.group_by("table", "version").agg(
        pl.struct("row").n_unique().alias("recovered")
    )
    return (
        cells.join(recovered, on=["table", "version"], how="left")
        .with_columns(pl.col("recovered").fill_null(0))
        .sort("table", "version")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, help="a release folder (datasets/)")
    parser.add_argument(
        "--catalog", type=Path, default=Path(__file__).resolve().parent.parent / "catalog.yaml"
    )
    parser.add_argument("--verbose", action="store_true", help="say where the time goes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else None
    values = attack_release(args.datasets, load_catalog(args.catalog), log)
    summary = _summary(values) if values.height else pl.DataFrame()
    for row in summary.iter_rows(named=True):
        print(
            f"{row['table']:<26} {row['version']:<4} suppressed cells bounded "
            f"{row['bounded']:>7,}  recovered {row['recovered']:>6,}"
        )
    print(f"attacked {values.height:,} hidden values in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
