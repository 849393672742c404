"""The suppression audit: how narrowly can a reader bound each suppressed cell?

For each audited quantity, a reader who has every published table knows

* the relations (:mod:`bawaba.disclosure.linked`): for each relation group, the hidden
  cells on the left minus those on the right equal a published constant;
* bounds: a count is at least 1 in a cell that exists because of its population, an amount
  at least 0.

The hidden values form a polytope; a reader's interval for a cell is its minimum and maximum
over it, two linear programs (``scipy.optimize.linprog``, HiGHS). The cell is protected when
the interval is wide enough: at least ``k`` for a count (measured in whole numbers, since a
reader knows counts are integers), at least ``p/100`` of the hidden value for an amount.

Doing two LPs per cell is too slow for a daily table, so the audit first *certifies*: every
feasible point of the polytope (the true values among them) bounds each cell's interval from
inside, so a few LPs over whole components with random objectives usually show most intervals
wide enough already. Only cells still too narrow get their two exact LPs, on their connected
component only (cells linked by relations through other hidden cells). Every number the audit
compares is therefore a lower bound of the real width: it can fail a safe cell, never pass an
unsafe one. Points the solver reports unsolved leave widths as they were (fail closed).

What the report holds, and why it is only a boolean: the report is published beside the
release, and the width of a reader's interval is public (anyone can solve the same LPs). A
ratio width/required for an amount would give the hidden value away (value = width / (p/100
* ratio)), and the certified width of a cell depends on the true values it was measured
with. So a cell's line says which table, coordinates and quantity, and whether it is
protected, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from bawaba.disclosure.linked import Coordinates, Linkage, link
from bawaba.disclosure.model import AuditTable, DisclosureError, QuantityKind, quantity_kind

__all__ = ["AuditReport", "CellAudit", "QuantityAudit", "audit", "audit_flags", "report"]

_EPS = 1e-6
_RANDOM_ROUNDS = 2
_TARGET_ROUNDS = 6
_SEED = 20240601  # fixed: the audit is deterministic
# HiGHS's presolve costs seconds on the large block-diagonal LPs below and saves nothing:
# every row is a short sum and every column appears in a handful of rows.
_OPTIONS = {"presolve": False}


@dataclass(frozen=True)
class CellAudit:
    """One suppressed cell, one quantity: is the reader's interval wide enough?"""

    table: str
    coordinates: Coordinates
    quantity: str
    ok: bool


@dataclass(frozen=True)
class AuditReport:
    """Every suppressed cell of the release, per quantity of its table.

    ``rows`` has the columns ``table``, ``quantity``, ``ok`` and one string column per
    coordinate of any table (null where a table lacks it), ordered by table, quantity and
    then the table's row order. It holds no value, width or bound (see the module doc).
    """

    rows: pl.DataFrame
    failures: tuple[CellAudit, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line for a log or an error: counts and the first failing cells, no value."""
        line = f"{self.rows.height} suppressed cell-quantities audited"
        if self.ok:
            return f"{line}, all protected"
        shown = "; ".join(
            f"{f.table} ({', '.join(f'{c}={v}' for c, v in f.coordinates)}) {f.quantity}"
            for f in self.failures[:5]
        )
        more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        return f"{line}, {len(self.failures)} too narrowly bounded: {shown}{more}"


@dataclass(frozen=True)
class QuantityAudit:
    """The audit of one quantity: the hidden cells (global index) and whether each is safe.

    ``shortfall`` (how much wider a failing cell's interval must become; 0 when ok) and
    ``binding`` (failing cell -> the relation groups that bound its interval, when known)
    steer the protection loop's next suppression. They derive from true values: internal
    only, never in a report.
    """

    quantity: str
    cells: NDArray[np.int64]
    ok: NDArray[np.bool_]
    shortfall: NDArray[np.float64]
    binding: dict[int, NDArray[np.int64]]


def _width(
    lo: NDArray[np.float64], hi: NDArray[np.float64], kind: QuantityKind
) -> NDArray[np.float64]:
    # A reader knows counts are whole numbers: only integers inside the interval count.
    if kind == "count":
        return np.asarray(np.floor(hi + _EPS) - np.ceil(lo - _EPS), dtype=np.float64)
    return hi - lo


def _wide_enough(
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    required: NDArray[np.float64],
    kind: QuantityKind,
) -> NDArray[np.bool_]:
    return np.asarray(_width(lo, hi, kind) >= required, dtype=np.bool_)


def _minimise(
    a: sp.csr_matrix,
    b: NDArray[np.float64],
    lb: NDArray[np.float64],
    ub: NDArray[np.float64],
    c: NDArray[np.float64],
) -> NDArray[np.float64] | None:
    """A minimiser of ``c @ x`` subject to ``a x = b``, ``lb <= x <= ub``; None if unsolved."""
    return _solve(a, b, lb, ub, c)[0]


def _solve(
    a: sp.csr_matrix,
    b: NDArray[np.float64],
    lb: NDArray[np.float64],
    ub: NDArray[np.float64],
    c: NDArray[np.float64],
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64]]:
    """:func:`_minimise`, with the duals of the equations (zero where one does not bind)."""
    if a.shape[0] == 0:
        return np.where(c < 0, ub, lb), np.zeros(0)
    result = linprog(
        c,
        A_eq=a,
        b_eq=b,
        bounds=np.column_stack((lb, ub)),
        method="highs",
        options=_OPTIONS,
    )
    if result.status != 0 or result.x is None:
        return None, np.zeros(a.shape[0])
    return np.asarray(result.x, dtype=np.float64), np.asarray(result.eqlin.marginals)


def _reach(
    a: sp.csr_matrix,
    b: NDArray[np.float64],
    lb: NDArray[np.float64],
    ub: NDArray[np.float64],
    push: NDArray[np.float64],
    target: NDArray[np.float64],
    weight: NDArray[np.float64],
) -> NDArray[np.float64] | None:
    """A feasible point that takes as many variables as it can to their targets at once.

    For ``push[i] = +1`` it maximises ``min(x_i, target_i)``, for ``-1`` it maximises
    ``min(-x_i, -target_i)``, summed with ``weight``; an auxiliary variable ``y`` per pushed
    variable carries the ``min``. Unlike a vertex that maximises a sum, which gives all the
    slack of a relation to one cell, this spreads it over every cell that needs some.
    """
    n = a.shape[1]
    pushed = np.nonzero(push)[0]
    m = len(pushed)
    sign = push[pushed]
    y_upper = sign * target[pushed]
    y_lower = np.minimum(np.where(sign > 0, lb[pushed], -ub[pushed]), y_upper)
    link_rows = sp.hstack(
        [sp.csr_matrix((-sign, (np.arange(m), pushed)), shape=(m, n)), sp.identity(m)],
        format="csr",
    )
    result = linprog(
        np.concatenate((np.zeros(n), -weight[pushed])),
        A_ub=link_rows,
        b_ub=np.zeros(m),
        A_eq=sp.hstack([a, sp.csr_matrix((a.shape[0], m))], format="csr") if a.shape[0] else None,
        b_eq=b if a.shape[0] else None,
        bounds=np.column_stack((np.concatenate((lb, y_lower)), np.concatenate((ub, y_upper)))),
        method="highs",
        options=_OPTIONS,
    )
    if result.status != 0 or result.x is None:
        return None
    return np.asarray(result.x[:n], dtype=np.float64)


class _Polytope:
    """``a x = b``, ``lb <= x <= ub`` for one quantity, split into connected components.

    The upper bound is artificial, so that no LP is unbounded: twice the true total of the
    cell's component plus ``slack``. A solution reaching it proves the cell's interval at
    least ``cap - value >= total + slack`` wide, more than any requirement (p% of a value at
    most the total, or k <= slack), so the cap never passes a cell that would fail.
    """

    def __init__(
        self,
        a: sp.csr_matrix,
        b: NDArray[np.float64],
        lb: NDArray[np.float64],
        x_true: NDArray[np.float64],
        slack: float,
    ) -> None:
        self.a, self.b, self.lb = a, b, lb
        n_rows = a.shape[0]
        graph = sp.bmat([[None, a], [a.T, None]], format="csr")
        n_components, labels = connected_components(graph, directed=False)
        self.n_components = int(n_components)
        self.var_component = labels[n_rows:].astype(np.int64)
        bounds = np.arange(n_components + 1)
        self._var_order = np.argsort(self.var_component, kind="stable")
        self._var_start = np.searchsorted(self.var_component[self._var_order], bounds)
        row_component = labels[:n_rows].astype(np.int64)
        self._row_order = np.argsort(row_component, kind="stable")
        self._row_start = np.searchsorted(row_component[self._row_order], bounds)
        totals = np.bincount(self.var_component, weights=x_true, minlength=n_components)
        self.ub = 2.0 * totals[self.var_component] + slack
        self._cache: dict[int, tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]] = {}

    def variables_of(self, c: int) -> NDArray[np.int64]:
        """The variables of component ``c``, in order."""
        return np.sort(self._var_order[self._var_start[c] : self._var_start[c + 1]])

    def select(
        self, components: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
        """The variables, rows and constraint matrix of the given components."""
        variables = np.sort(
            np.concatenate(
                [self._var_order[self._var_start[c] : self._var_start[c + 1]] for c in components]
            )
        )
        rows = np.sort(
            np.concatenate(
                [self._row_order[self._row_start[c] : self._row_start[c + 1]] for c in components]
            )
        )
        return variables, rows, self.a[rows][:, variables].tocsr()

    def component(self, c: int) -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
        if c not in self._cache:
            self._cache[c] = self.select(np.array([c], dtype=np.int64))
        return self._cache[c]


class _Twins:
    """Hidden cells that no relation tells apart: the same relation groups, on the same side.

    The days of one month in a daily table, or the hours of an hour-of-week profile, are
    linked to every other table through the same equations; a reader can move any amount
    between them. The audit solves for their sum (one LP variable per class) and derives
    each member's interval from it, which shrinks a daily table's LPs tenfold and more.
    A cell in no relation is a class of its own.
    """

    def __init__(self, a: sp.csc_matrix) -> None:
        a = a.copy()
        a.sort_indices()
        n = a.shape[1]
        nnz = np.diff(a.indptr)
        codes = np.full((n, int(nnz.max(initial=0)) + 1), -1, dtype=np.int64)
        column = np.repeat(np.arange(n), nnz)
        position = np.arange(len(a.indices)) - np.repeat(a.indptr[:-1], nnz)
        codes[column, position] = a.indices.astype(np.int64) * 2 + (a.data > 0)
        codes[:, -1] = np.where(nnz == 0, np.arange(n), -1)
        _, self.first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        self.inverse = inverse.reshape(-1).astype(np.int64)
        self.n = len(self.first)
        self.size = np.bincount(self.inverse, minlength=self.n)

    def total(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(
            np.bincount(self.inverse, weights=values, minlength=self.n), dtype=np.float64
        )

    def most(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.full(self.n, -np.inf)
        np.maximum.at(out, self.inverse, values)
        return out


def _certify(
    poly: _Polytope,
    x_true: NDArray[np.float64],
    low: NDArray[np.float64],
    required: NDArray[np.float64],
    kind: QuantityKind,
    active: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], dict[int, NDArray[np.int64]]]:
    """The width of each ``active`` variable's interval as far as needed: at least
    ``required`` when it is shown to be so, the exact width when it is not (see the module
    doc for the method). ``low`` is a value known to be reachable from below (the true
    value, or less); ``active`` covers whole components, the others are left alone.

    Also, for each variable too narrow, the equations (rows) that bind its interval: where
    to hide one more cell.

    Three stages, each on the components that still hold an uncertified variable: vertices
    for random objectives (cheap, and enough for most amounts); points that push every
    uncertified variable towards the width it needs, up then down (:func:`_reach`); and
    the exact minimum and maximum of each variable still left.
    """
    lo, hi = np.minimum(low, x_true), x_true.copy()
    binding: dict[int, NDArray[np.int64]] = {}

    def seen(variables: NDArray[np.int64], x: NDArray[np.float64] | None) -> None:
        if x is not None:
            np.minimum.at(lo, variables, x)
            np.maximum.at(hi, variables, x)

    def open_components() -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
        return poly.select(np.unique(poly.var_component[~ok]))

    ok = _wide_enough(lo, hi, required, kind) | ~active
    rng = np.random.default_rng(_SEED)
    for _ in range(_RANDOM_ROUNDS):
        if ok.all():
            break
        variables, rows, a = open_components()
        weight = np.where(ok[variables], 0.0, rng.choice([-1.0, 1.0], size=len(variables)))
        for c in (weight, -weight):
            seen(variables, _minimise(a, poly.b[rows], poly.lb[variables], poly.ub[variables], c))
        ok = _wide_enough(lo, hi, required, kind) | ~active

    lo_exact = lo <= poly.lb + _EPS
    hi_exact = hi >= poly.ub - _EPS
    scale = 1.0 / np.maximum(required, _EPS)
    for round_ in range(_TARGET_ROUNDS):
        if ok.all():
            break
        variables, rows, a = open_components()
        if round_ % 2 == 0:  # up to the lowest value seen plus the width needed
            low = np.ceil(lo - _EPS) if kind == "count" else lo
            target, push = low + required, np.where(~ok & ~hi_exact, 1.0, 0.0)
        else:  # down to the highest value seen minus the width needed
            high = np.floor(hi + _EPS) if kind == "count" else hi
            target, push = high - required, np.where(~ok & ~lo_exact, -1.0, 0.0)
        if push[variables].any():
            seen(
                variables,
                _reach(
                    a,
                    poly.b[rows],
                    poly.lb[variables],
                    poly.ub[variables],
                    push[variables],
                    target[variables],
                    scale[variables],
                ),
            )
        ok = _wide_enough(lo, hi, required, kind) | ~active

    for i in np.nonzero(~ok)[0]:
        if ok[i]:
            continue
        variables, rows, a = poly.component(int(poly.var_component[i]))
        j = int(np.searchsorted(variables, i))
        binds = []
        for direction, exact in ((1.0, lo_exact), (-1.0, hi_exact)):
            if exact[i]:
                continue
            c = np.zeros(len(variables))
            c[j] = direction
            x, duals = _solve(a, poly.b[rows], poly.lb[variables], poly.ub[variables], c)
            seen(variables, x)
            exact[i] = x is not None
            binds.append(rows[np.abs(duals) > _EPS])
            ok[variables] = _wide_enough(lo[variables], hi[variables], required[variables], kind)
            if ok[i]:
                break
        if not ok[i]:
            binding[int(i)] = np.unique(np.concatenate(binds)) if binds else rows[:0]
    return _width(lo, hi, kind), binding


Cache = dict[tuple[str, bytes], tuple[NDArray[np.float64], dict[int, NDArray[np.int64]]]]
"""Widths (and binding groups) of components already audited, by quantity and the cells
hidden in them.

A component is fixed by its hidden cells: its relation groups are those touching them, its
constants the published cells of those groups. Within one linkage a component seen before
need not be solved again; the protection loop changes a few components per round.
"""


def _audit_quantity(
    linkage: Linkage, flags: NDArray[np.bool_], quantity: str, cache: Cache | None
) -> QuantityAudit:
    kind = quantity_kind(quantity)
    values = linkage.values(quantity)
    present = ~np.isnan(values)
    hidden = np.nonzero(flags & present)[0].astype(np.int64)
    known = np.where(present, values, 0.0)

    linked = [i for i, r in enumerate(linkage.relations) if quantity in r.quantities]
    in_relation = np.isin(linkage.group_relation[linkage.member_group], linked)
    groups, row = np.unique(linkage.member_group[in_relation], return_inverse=True)
    m = sp.csr_matrix(
        (
            linkage.member_sign[in_relation].astype(np.float64),
            (row, linkage.member_cell[in_relation]),
        ),
        shape=(len(groups), linkage.n_cells),
    )
    # The tables must add up as the relations say; otherwise the model does not describe
    # them (an undeclared restriction, a mis-built table) and the audit would be meaningless.
    residual = np.abs(m @ known)
    scale = abs(m) @ np.abs(known)
    bad = np.nonzero(residual > 1e-7 * scale + _EPS)[0]
    if len(bad):
        group = int(groups[bad[0]])
        relation = linkage.relations[int(linkage.group_relation[group])]
        first = int(linkage.member_cell[linkage.group_start[group]])
        raise DisclosureError(
            f"{relation.left} and {relation.right} do not add up on {list(relation.on)} for "
            f"{quantity} (near {linkage.describe(first)})",
            hint="declare the table's restriction, or its derived coordinates",
        )

    lower = linkage.lower_bound(quantity)
    below = hidden[values[hidden] < lower[hidden] - _EPS]
    if len(below):
        raise DisclosureError(
            f"{linkage.describe(int(below[0]))} holds a {kind} below what a reader assumes "
            f"for {quantity}",
            hint="counts of a table's own population are at least 1, amounts at least 0",
        )
    if len(hidden) == 0:
        return QuantityAudit(quantity, hidden, np.zeros(0, dtype=np.bool_), np.zeros(0), {})

    x_true = values[hidden]
    a = m[:, hidden].tocsc()
    if kind == "count":
        required = linkage.per_table("k")[hidden]
    else:
        required = linkage.per_table("p")[hidden] / 100.0 * x_true
    twins = _Twins(a)
    lb = twins.total(lower[hidden])
    # A reader's right-hand side (published cells moved across) equals a @ x_true up to the
    # rounding of the sums checked above; taking the latter keeps the true point exactly
    # feasible, which the solver's tolerances need when amounts run into millions.
    x_class = twins.total(x_true)
    a_class = a[:, twins.first].tocsr()
    keep = np.diff(a_class.indptr) > 0
    a_class = a_class[keep]
    slack = 10.0 * max(t.k for t in linkage.tables) + 1.0
    poly = _Polytope(a_class, a_class @ x_class, lb, x_class, slack)

    # A member of a class of twins goes down to its own bound (a twin takes the rest), so
    # its interval is as wide as the class sum's range above the class's lowest sum.
    low = np.where(twins.size > 1, lb, x_class)
    width = np.zeros(twins.n)
    binding: dict[int, NDArray[np.int64]] = {}  # class -> groups binding its interval
    active = np.ones(twins.n, dtype=np.bool_)
    fresh = []
    if cache is not None:
        members = np.argsort(poly.var_component[twins.inverse], kind="stable")
        bounds = np.searchsorted(
            poly.var_component[twins.inverse][members], np.arange(poly.n_components + 1)
        )
        for c in range(poly.n_components):
            variables = poly.variables_of(c)
            key = (quantity, np.sort(hidden[members[bounds[c] : bounds[c + 1]]]).tobytes())
            before = cache.get(key)
            if before is None:
                fresh.append((key, variables))
            else:
                width[variables] = before[0]
                binding.update((int(variables[j]), g) for j, g in before[1].items())
                active[variables] = False
    if active.any():
        found, binds = _certify(poly, x_class, low, twins.most(required), kind, active)
        width[active] = found[active]
        row_group = groups[np.nonzero(keep)[0]]
        binding.update((v, row_group[rows]) for v, rows in binds.items())
    if cache is not None:
        for key, variables in fresh:
            local = {j: binding[int(v)] for j, v in enumerate(variables) if int(v) in binding}
            cache[key] = (width[variables], local)
    gap = required - width[twins.inverse]
    ok = gap <= 0
    return QuantityAudit(
        quantity,
        hidden,
        ok,
        np.maximum(gap, 0.0),
        {
            int(hidden[i]): binding.get(int(twins.inverse[i]), np.zeros(0, dtype=np.int64))
            for i in np.nonzero(~ok)[0]
        },
    )


def audit_flags(
    linkage: Linkage, flags: NDArray[np.bool_], cache: Cache | None = None
) -> list[QuantityAudit]:
    """Audit every quantity of the release under the suppression pattern ``flags``.

    ``cache`` (owned by the caller, for one linkage) skips components audited before.
    """
    return [_audit_quantity(linkage, flags, q, cache) for q in linkage.quantities()]


def report(linkage: Linkage, audits: Sequence[QuantityAudit]) -> AuditReport:
    """The publishable report of an audit: locations and booleans only."""
    frames = []
    failures: list[CellAudit] = []
    for qa in audits:
        table_of = linkage.table_of[qa.cells]
        for t in np.unique(table_of):
            table = linkage.tables[int(t)]
            mine = table_of == t
            rows = qa.cells[mine] - linkage.offsets[t]
            coordinates = table.cells.select(pl.col(c).cast(pl.String) for c in table.coordinates)[
                rows
            ]
            frames.append(
                coordinates.select(
                    pl.lit(table.name).alias("table"),
                    pl.lit(qa.quantity).alias("quantity"),
                    pl.Series("ok", qa.ok[mine], dtype=pl.Boolean),
                    *table.coordinates,
                )
            )
        failures.extend(
            CellAudit(*linkage.locate(int(cell)), qa.quantity, False) for cell in qa.cells[~qa.ok]
        )
    empty = pl.DataFrame(schema={"table": pl.String, "quantity": pl.String, "ok": pl.Boolean})
    rows = pl.concat([empty, *frames], how="diagonal").sort(
        "table", "quantity", maintain_order=True
    )
    failures.sort(key=lambda f: (f.table, f.quantity))
    return AuditReport(rows, tuple(failures))


def audit(tables: Sequence[AuditTable]) -> AuditReport:
    """Audit a release whose tables carry their ``suppressed`` flags."""
    linkage = link(tables)
    return report(linkage, audit_flags(linkage, linkage.flags()))
