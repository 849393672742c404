"""Disclosure control, as properties over small random microdata.

Transactions (payers, departments, months, channels, payment methods, amounts with
heavy-tailed company payments) are drawn at random, 2 to 4 linked tables are built from them
by the test's own builder, and ``protect`` runs. Then, checked independently of the library:

* every published cell meets k and p%;
* no relation holds exactly one suppressed cell (the groups are recomputed here);
* a reader's interval for every suppressed cell is as wide as required, measured by a second
  linear program over the microdata-level cube (one variable per combination of month,
  department, channel and payment method) rather than the library's table-level relations;
* protect is deterministic, whatever the table order.

And the LP machinery on its own: the widths :func:`bawaba.disclosure.intervals.certify`
finds without solving two LPs per cell lead to the same verdicts as two LPs per cell.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import event, given
from hypothesis import strategies as st
from scipy.optimize import linprog

from bawaba.disclosure import (
    SUPPRESSED,
    AuditReport,
    AuditTable,
    DisclosureError,
    audit,
    primary,
    protect,
    quantity_kind,
    secondary,
)
from bawaba.disclosure.intervals import Polytope, certify
from test_disclosure import MONTHS, Row, build_table, transactions

DEPARTMENTS = ("A", "B", "C")
CHANNELS = ("web", "kiosk")
METHODS = ("card", "dd")
MONTHS_USED = MONTHS[:4]  # two quarters
DOMAINS = {
    "month": MONTHS_USED,
    "department": DEPARTMENTS,
    "channel": CHANNELS,
    "payment_method": METHODS,
}


@dataclass(frozen=True)
class Design:
    name: str
    keys: tuple[str, ...]
    restriction: tuple[tuple[str, str], ...] = ()
    protected: bool = False


MENU = (
    Design("monthly-dept", ("month", "department")),
    Design("monthly-channel", ("month", "channel")),
    Design("quarter-dept-channel", ("quarter", "department", "channel")),
    Design("annual-dept", ("year", "department"), protected=True),
    Design("annual-dept-open", ("year", "department")),
    Design("annual-total", ("year",), protected=True),
    Design("monthly-method", ("month", "payment_method")),
    Design("dd-quarter-dept", ("quarter", "department"), (("payment_method", "dd"),)),
    Design("annual-dept-method", ("year", "department", "payment_method")),
    # With the two above it closes a cycle dept - channel - method: the cube is then
    # tighter than any pair of tables.
    Design("quarter-channel-method", ("quarter", "channel", "payment_method")),
)


@st.composite
def microdata(draw: st.DrawFn) -> list[Row]:
    """Individuals (payers 0-29) paying small amounts, companies (30-33) paying large ones."""
    size = draw(st.integers(min_value=1, max_value=120))
    rows: list[Row] = []
    for _ in range(size):
        company = draw(st.integers(0, 5)) == 0
        payer = draw(st.integers(30, 33) if company else st.integers(0, 29))
        amount = draw(
            st.floats(5_000, 2_000_000) if company else st.sampled_from([5.0, 20.0, 75.5, 300.0])
        )
        rows.append(
            (
                payer,
                draw(st.sampled_from(DEPARTMENTS)),
                draw(st.sampled_from(MONTHS_USED)),
                draw(st.sampled_from(CHANNELS)),
                draw(st.sampled_from(METHODS)),
                round(amount, 2),
            )
        )
    return rows


def releases() -> st.SearchStrategy[tuple[list[Row], list[Design], int]]:
    return st.tuples(
        microdata(),
        st.lists(st.sampled_from(MENU), min_size=2, max_size=4, unique=True),
        st.sampled_from([2, 3]),
    )


def build(rows: list[Row], designs: Sequence[Design], k: int) -> list[AuditTable]:
    frame = transactions(rows)
    return [
        build_table(
            d.name, frame, d.keys, k=k, restriction=dict(d.restriction), protected=d.protected
        )
        for d in designs
    ]


# -- independent checks ------------------------------------------------------------------


def _quarter(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"


def _place(cube_cell: dict[str, str], table: AuditTable) -> tuple[str, ...] | None:
    """The coordinates of the table cell a cube cell falls in, None outside its slice."""
    for column, value in table.restriction.items():
        if cube_cell[column] != value:
            return None
    full = {**cube_cell, "quarter": _quarter(cube_cell["month"]), "year": cube_cell["month"][:4]}
    return tuple(full[c] for c in table.coordinates)


def _width(lo: float, hi: float, kind: str) -> float:
    if math.isinf(hi):
        return math.inf
    if kind == "count":
        return math.floor(hi + 1e-6) - math.ceil(lo - 1e-6)
    return hi - lo


Narrow = dict[tuple[str, tuple[str, ...], str], str]
"""(table, coordinates as strings, quantity) -> the interval found, for a message."""


def cube_audit(tables: Sequence[AuditTable]) -> Narrow:
    """Every suppressed cell a reader of the cube could bound too narrowly.

    One nonnegative variable per combination of the four dimensions. A published cell fixes
    the sum of its combinations; a suppressed one only exists (count >= 1); a combination in
    a table's slice but in none of its cells is zero.
    """
    names = tuple(DOMAINS)
    combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*DOMAINS.values())]
    problems: Narrow = {}
    for quantity in sorted({q for t in tables for q in t.quantities}):
        kind = quantity_kind(quantity)
        holders = [t for t in tables if quantity in t.quantities]
        index: list[dict[tuple[str, ...], int]] = []
        for t in holders:
            coords = t.cells.select(pl.col(c).cast(pl.String) for c in t.coordinates).rows()
            index.append({c: i for i, c in enumerate(coords)})
        alive = [
            u
            for u, combo in enumerate(combos)
            if all(
                (place := _place(combo, t)) is None or place in index[j]
                for j, t in enumerate(holders)
            )
        ]
        column = {u: i for i, u in enumerate(alive)}
        a_eq, b_eq, a_ub, b_ub, hidden = [], [], [], [], []
        for j, t in enumerate(holders):
            members: dict[int, list[int]] = {}
            for u in alive:
                place = _place(combos[u], t)
                if place is not None:
                    members.setdefault(index[j][place], []).append(column[u])
            values = t.cells.get_column(t.quantities[quantity]).to_list()
            flags = t.suppressed.to_list()
            for row, cols in members.items():
                line = np.zeros(len(alive))
                line[cols] = 1.0
                if flags[row]:
                    hidden.append((t, row, line, float(values[row])))
                    if kind == "count":
                        a_ub.append(-line)
                        b_ub.append(-1.0)
                else:
                    a_eq.append(line)
                    b_eq.append(float(values[row]))
        for t, row, line, value in hidden:
            bounds = []
            for sign in (1.0, -1.0):
                res = linprog(
                    sign * line,
                    A_ub=np.array(a_ub) if a_ub else None,
                    b_ub=np.array(b_ub) if b_ub else None,
                    A_eq=np.array(a_eq) if a_eq else None,
                    b_eq=np.array(b_eq) if b_eq else None,
                    bounds=(0, None),
                    method="highs",
                )
                if res.status == 3:  # unbounded
                    bounds.append(sign * -math.inf)
                else:
                    assert res.status == 0, res.message
                    bounds.append(sign * res.fun)
            lo, hi = bounds
            required = t.k if kind == "count" else t.p / 100 * value
            if _width(lo, hi, kind) < required - 1e-6 * max(1.0, required):
                place = t.cells.select(pl.col(c).cast(pl.String) for c in t.coordinates).row(row)
                problems[(t.name, place, quantity)] = f"[{lo}, {hi}] vs {required}"
    return problems


def lines_with_one_hidden_cell(tables: Sequence[AuditTable]) -> list[str]:
    """Relation groups (recomputed here) that hold exactly one suppressed cell."""
    found = []
    for a, b in itertools.combinations(tables, 2):
        if not set(a.quantities) & set(b.quantities):
            continue
        scope_a = {*a.coordinates, *a.restriction}
        scope_b = {*b.coordinates, *b.restriction}
        on = sorted(scope_a & scope_b)
        restriction = {**a.restriction, **b.restriction}
        if not set(restriction) <= set(on):
            continue
        if any(a.restriction.get(c, v) != v for c, v in b.restriction.items()):
            continue
        counts: dict[tuple[str, ...], int] = {}
        for t in (a, b):
            frame = t.cells.with_columns(
                pl.lit(v).alias(c) for c, v in t.restriction.items() if c not in t.coordinates
            )
            for c, v in restriction.items():
                frame = frame.filter(pl.col(c).cast(pl.String) == v)
            for row in frame.select(*on, SUPPRESSED).iter_rows():
                key = tuple(str(x) for x in row[:-1])
                counts[key] = counts.get(key, 0) + int(row[-1])
        found += [f"{a.name}~{b.name} {key}" for key, n in counts.items() if n == 1]
    return found


def unsafe_published_cells(table: AuditTable) -> int:
    shown = table.cells.filter(~pl.col(SUPPRESSED))
    rest = shown["amount_aed"] - shown["amount_aed_top1"] - shown["amount_aed_top2"]
    bad = (shown["payers"] < table.k) | (100 * rest < table.p * shown["amount_aed_top1"])
    return int(bad.sum())


# -- properties --------------------------------------------------------------------------


def _protect_or_refuse(tables: list[AuditTable]) -> list[AuditTable] | None:
    try:
        done, report = protect(tables)
    except DisclosureError as error:
        refusal = str(error)
    else:
        assert report.ok
        event("protected")
        return done
    event("refused")
    assert any(why in refusal for why in ("protected", "too narrowly", "cycle")), refusal
    return None


@given(releases())
def test_published_cells_meet_k_and_p(release: tuple[list[Row], list[Design], int]) -> None:
    done = _protect_or_refuse(build(*release))
    if done is not None:
        assert [unsafe_published_cells(t) for t in done] == [0] * len(done)


@given(releases())
def test_no_line_holds_exactly_one_hidden_cell(
    release: tuple[list[Row], list[Design], int],
) -> None:
    done = _protect_or_refuse(build(*release))
    if done is not None:
        assert lines_with_one_hidden_cell(done) == []


@given(releases())
def test_a_cube_reader_cannot_narrow_a_hidden_cell(
    release: tuple[list[Row], list[Design], int],
) -> None:
    done = _protect_or_refuse(build(*release))
    if done is not None:
        assert cube_audit(done) == {}


@given(releases())
def test_the_audit_flags_every_cell_a_cube_reader_narrows(
    release: tuple[list[Row], list[Design], int],
) -> None:
    # Before the protection loop widens anything: primary and secondary suppression only,
    # where narrow cells are common. The audit must see each one the cube reader sees.
    try:
        hidden = secondary([primary(t) for t in build(*release)])
        report = audit(hidden)
    except DisclosureError as error:
        refusal = str(error)
    else:
        refusal = ""
    if refusal:
        assert any(why in refusal for why in ("protected", "cycle")), refusal
        return
    flagged = {(f.table, tuple(v for _, v in f.coordinates), f.quantity) for f in report.failures}
    narrow = cube_audit(hidden)
    event(f"cube reader narrows {'some' if narrow else 'no'} cell")
    assert {k: v for k, v in narrow.items() if k not in flagged} == {}


@given(releases())
def test_protect_is_deterministic(release: tuple[list[Row], list[Design], int]) -> None:
    tables = build(*release)
    outcomes: list[tuple[list[AuditTable], AuditReport] | str] = []
    for order in (tables, list(reversed(tables))):
        try:
            outcomes.append(protect(order))
        except DisclosureError as error:
            outcomes.append(str(error))
    first, second = outcomes
    if isinstance(first, str) or isinstance(second, str):
        assert first == second, "refused once, accepted once"
        return
    for a, b in zip(first[0], reversed(second[0]), strict=True):
        assert a.cells.equals(b.cells)
    assert first[1].rows.equals(second[1].rows)


# -- the LP machinery against brute force ------------------------------------------------


@st.composite
def polytopes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Small systems of relations (+1/-1 sums) with a true point, for counts or amounts."""
    n_vars = draw(st.integers(1, 10))
    n_rows = draw(st.integers(0, 6))
    a = np.array(
        [[draw(st.sampled_from([-1, 0, 0, 1])) for _ in range(n_vars)] for _ in range(n_rows)],
        dtype=np.float64,
    ).reshape(n_rows, n_vars)
    kind = draw(st.sampled_from(["count", "amount"]))
    if kind == "count":
        x = np.array([draw(st.integers(1, 40)) for _ in range(n_vars)], dtype=np.float64)
        need = float(draw(st.sampled_from([2, 5, 10])))
    else:
        # Money: whole fils, as the tables hold it.
        x = np.array([draw(st.integers(0, 500_000)) / 100 for _ in range(n_vars)])
        need = 15.0
    return a, x, kind, need


@given(polytopes())
def test_certified_widths_agree_with_two_lps_per_cell(
    system: tuple[np.ndarray, np.ndarray, str, float],
) -> None:
    a, x, kind, need = system
    a = a[np.abs(a).sum(axis=1) > 0]
    lb = np.ones(len(x)) if kind == "count" else np.zeros(len(x))
    required = np.full(len(x), need) if kind == "count" else need / 100 * x
    poly = Polytope(sp.csr_matrix(a), a @ x, lb, x, slack=101.0)
    found, binding = certify(poly, x, x, required, kind, np.ones(len(x), dtype=bool))
    for i in range(len(x)):
        bounds = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(x))
            c[i] = sign
            res = linprog(
                c,
                A_eq=a if len(a) else None,
                b_eq=a @ x if len(a) else None,
                bounds=list(zip(lb, [None] * len(x), strict=True)),
                method="highs",
            )
            bounds.append(math.inf if res.status == 3 else sign * res.fun)
        exact = _width(bounds[0], bounds[1], kind)
        if found[i] >= required[i]:  # shown wide enough: it is
            assert exact >= required[i] - 1e-6, (i, found[i], exact)
        else:  # too narrow: the width is exact, and the binding equations are known
            assert found[i] == pytest.approx(exact, abs=1e-6), (i, found[i], exact)
            assert i in binding
