"""A reader's intervals for hidden values: the linear programs behind the audit.

The hidden values of one quantity form a polytope ``a x = b``, ``lb <= x``; a reader's
interval for a cell is its minimum and maximum over it. Two LPs per cell would take minutes
on a daily table, so :func:`certify` works from the inside out: every feasible point (the
true values among them) lies within every interval, so a point is a proof that an interval
is at least so wide. It looks for such points in three stages, each only on the connected
components still holding a cell not shown wide enough -- vertices for random objectives,
then points that push every such cell towards the width it needs (:func:`reach`) -- and
solves the two exact LPs only for the cells left, on their component alone. Each width it
returns is thus a lower bound of the real one, and exact when it falls short of what is
required; a point the solver does not deliver leaves widths as they were (fail closed).

:class:`Twins` shrinks the problem first: cells no relation tells apart become one
variable. The LPs are solved by ``scipy.optimize.linprog`` with HiGHS.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from bawaba.disclosure.model import QuantityKind

__all__ = ["Binding", "Polytope", "Twins", "certify", "minimise", "reach", "solve", "width"]

_EPS = 1e-6
_RANDOM_ROUNDS = 2
_TARGET_ROUNDS = 6
_SEED = 20240601  # fixed: the audit is deterministic
# HiGHS's presolve costs seconds on the large block-diagonal LPs here and saves nothing:
# every row is a short sum and every column appears in a handful of rows.
_OPTIONS = {"presolve": False}
# Threads for the exact LPs of independent components (see ``certify``).
_WORKERS = min(4, os.cpu_count() or 1)
# The exact LPs of a component's cells still open after the feasible points: beyond this
# many, its remaining cells are failed without them (fail closed; the protection loop then
# widens them from their own relations). A joint audit of a daily table can leave thousands
# open, nearly all of them too narrow, and two LPs each over a department-year would take
# minutes per round.
EXACT_PER_COMPONENT = 20


Integral = QuantityKind | NDArray[np.bool_]
"""Which values are counts: one kind for all, or a mask (a joint audit of counts and amounts)."""


def _integral(kind: Integral, n: int) -> NDArray[np.bool_]:
    if isinstance(kind, str):
        return np.full(n, kind == "count", dtype=np.bool_)
    return kind


def width(lo: NDArray[np.float64], hi: NDArray[np.float64], kind: Integral) -> NDArray[np.float64]:
    """The width of ``[lo, hi]`` as a reader counts it: a reader knows counts are whole
    numbers, so for a count only the integers inside the interval matter."""
    whole = np.floor(hi + _EPS) - np.ceil(lo - _EPS)
    return np.asarray(np.where(_integral(kind, len(lo)), whole, hi - lo), dtype=np.float64)


def _wide_enough(
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    required: NDArray[np.float64],
    kind: Integral,
) -> NDArray[np.bool_]:
    return np.asarray(width(lo, hi, kind) >= required, dtype=np.bool_)


def minimise(
    a: sp.csr_matrix,
    b: NDArray[np.float64],
    lb: NDArray[np.float64],
    ub: NDArray[np.float64],
    c: NDArray[np.float64],
) -> NDArray[np.float64] | None:
    """A minimiser of ``c @ x`` subject to ``a x = b``, ``lb <= x <= ub``; None if unsolved."""
    return solve(a, b, lb, ub, c)[0]


def solve(
    a: sp.csr_matrix,
    b: NDArray[np.float64],
    lb: NDArray[np.float64],
    ub: NDArray[np.float64],
    c: NDArray[np.float64],
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64]]:
    """:func:`minimise`, with the duals of the equations (zero where one does not bind)."""
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


def reach(
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


@dataclass(frozen=True)
class Binding:
    """Why an interval is too narrow: the equations (rows) with a nonzero dual in its exact
    LPs, and those duals, one column per bound (the minimum's LP, the maximum's; zero where
    that LP was not solved).

    Both LPs minimise (``x`` for the lower bound, ``-x`` for the upper one), so widening the
    interval means lowering either optimum. A dual is the optimum's rate of change with the
    equation's constant, and hiding a published cell frees the constants of its equations:
    the duals tell which cells would widen the interval, and which way each must move.
    """

    rows: NDArray[np.int64]
    duals: NDArray[np.float64]
    """Shape ``(len(rows), 2)``."""


class Polytope:
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


class Twins:
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


def certify(
    poly: Polytope,
    x_true: NDArray[np.float64],
    low: NDArray[np.float64],
    required: NDArray[np.float64],
    kind: Integral,
    active: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], dict[int, Binding]]:
    """The width of each ``active`` variable's interval as far as needed: at least
    ``required`` when it is shown to be so, the exact width when it is not. ``low`` is a
    value known to be reachable from below (the true value, or less); ``active`` covers
    whole components, the others are left alone.

    Also, for each variable too narrow, the equations that bind its interval
    (:class:`Binding`): where to hide one more cell.

    Three stages, each on the components that still hold an uncertified variable: vertices
    for random objectives (cheap, and enough for most amounts); points that push every
    uncertified variable towards the width it needs, up then down (:func:`reach`); and
    the exact minimum and maximum of each variable still left.
    """
    lo, hi = np.minimum(low, x_true), x_true.copy()
    binding: dict[int, Binding] = {}
    integral = _integral(kind, len(x_true))

    def seen(variables: NDArray[np.int64], x: NDArray[np.float64] | None) -> None:
        if x is not None:
            np.minimum.at(lo, variables, x)
            np.maximum.at(hi, variables, x)

    def open_components() -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
        return poly.select(np.unique(poly.var_component[~ok]))

    ok = _wide_enough(lo, hi, required, integral) | ~active
    rng = np.random.default_rng(_SEED)
    for _ in range(_RANDOM_ROUNDS):
        if ok.all():
            break
        variables, rows, a = open_components()
        weight = np.where(ok[variables], 0.0, rng.choice([-1.0, 1.0], size=len(variables)))
        for c in (weight, -weight):
            seen(variables, minimise(a, poly.b[rows], poly.lb[variables], poly.ub[variables], c))
        ok = _wide_enough(lo, hi, required, integral) | ~active

    lo_exact = lo <= poly.lb + _EPS
    hi_exact = hi >= poly.ub - _EPS
    scale = 1.0 / np.maximum(required, _EPS)
    for round_ in range(_TARGET_ROUNDS):
        if ok.all():
            break
        variables, rows, a = open_components()
        if round_ % 2 == 0:  # up to the lowest value seen plus the width needed
            bottom = np.where(integral, np.ceil(lo - _EPS), lo)
            target, push = bottom + required, np.where(~ok & ~hi_exact, 1.0, 0.0)
        else:  # down to the highest value seen minus the width needed
            top = np.where(integral, np.floor(hi + _EPS), hi)
            target, push = top - required, np.where(~ok & ~lo_exact, -1.0, 0.0)
        if push[variables].any():
            seen(
                variables,
                reach(
                    a,
                    poly.b[rows],
                    poly.lb[variables],
                    poly.ub[variables],
                    push[variables],
                    target[variables],
                    scale[variables],
                ),
            )
        ok = _wide_enough(lo, hi, required, integral) | ~active

    def settle(cells: list[int]) -> None:
        """The exact LPs of one component's cells still open, in index order, as many as
        :data:`EXACT_PER_COMPONENT`."""
        for i in cells[:EXACT_PER_COMPONENT]:
            if ok[i]:
                continue
            variables, rows, a = poly.component(int(poly.var_component[i]))
            j = int(np.searchsorted(variables, i))
            duals = np.zeros((len(rows), 2))
            for bound, (direction, exact) in enumerate(((1.0, lo_exact), (-1.0, hi_exact))):
                if exact[i]:
                    continue
                c = np.zeros(len(variables))
                c[j] = direction
                x, duals[:, bound] = solve(
                    a, poly.b[rows], poly.lb[variables], poly.ub[variables], c
                )
                seen(variables, x)
                exact[i] = x is not None
                ok[variables] = _wide_enough(
                    lo[variables], hi[variables], required[variables], integral[variables]
                )
                if ok[i]:
                    break
            if not ok[i]:
                binds = np.abs(duals).max(axis=1, initial=0.0) > _EPS
                binding[int(i)] = Binding(rows[binds], duals[binds])

    # Components share no variable and no equation: each one's cells are settled in the same
    # order, with the same solves, whichever thread runs it and whatever runs beside it, so
    # the result does not depend on the threads. HiGHS releases the GIL while it solves.
    by_component: dict[int, list[int]] = {}
    for i in np.nonzero(~ok)[0]:
        by_component.setdefault(int(poly.var_component[i]), []).append(int(i))
    if len(by_component) > 1 and _WORKERS > 1:
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(settle, by_component.values()))
    else:
        for cells in by_component.values():
            settle(cells)
    return width(lo, hi, integral), binding
