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

How the intervals are found without two LPs per cell, which would be far too slow for a
daily table, is :mod:`bawaba.disclosure.intervals`: every width compared is a lower bound of
the real one, exact when it falls short, so the audit can fail a safe cell, never pass an
unsafe one.

What the report holds, and why it is only a boolean: the report is published beside the
release, and the width of a reader's interval is public (anyone can solve the same LPs). A
ratio width/required for an amount would give the hidden value away (value = width / (p/100
* ratio)), and the certified width of a cell depends on the true values it was measured
with. So a cell's line says which table, coordinates and quantity, and whether it is
protected, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from bawaba.disclosure.intervals import Binding, Polytope, Twins, certify
from bawaba.disclosure.linked import Coordinates, Linkage, link
from bawaba.disclosure.model import AuditTable, DisclosureError, quantity_kind

__all__ = ["AuditReport", "CellAudit", "QuantityAudit", "audit", "audit_flags", "report"]

_EPS = 1e-6
QUANTITY_THREADS = 2
_UNKNOWN = Binding(np.zeros(0, dtype=np.int64), np.zeros((0, 2)))


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
    ``binding`` (failing cell -> the relation groups that bound its interval, with their
    duals, when known) steer the protection loop's next suppression. They derive from true
    values: internal only, never in a report.
    """

    quantity: str
    cells: NDArray[np.int64]
    ok: NDArray[np.bool_]
    shortfall: NDArray[np.float64]
    binding: dict[int, Binding]


Cache = dict[tuple[str, bytes], tuple[NDArray[np.float64], dict[int, Binding]]]
"""Widths (and binding groups) of components already audited, by quantity and the cells
hidden in them.

A component is fixed by its hidden cells: its relation groups are those touching them, its
constants the published cells of those groups. Within one linkage a component seen before
need not be solved again; the protection loop changes a few components per round.
"""


def _check_model(
    linkage: Linkage,
    quantity: str,
    groups: NDArray[np.int64],
    m: sp.csr_matrix,
    known: NDArray[np.float64],
    hidden: NDArray[np.int64],
    lower: NDArray[np.float64],
) -> None:
    """Refuse tables the attacker model does not describe, where the audit would mean
    nothing: tables that do not add up as the relations say (an undeclared restriction, a
    mis-built table), or a hidden value below the bound a reader assumes."""
    residual = m @ known
    residual[linkage.group_within[groups]] = np.maximum(residual[linkage.group_within[groups]], 0)
    scale = abs(m) @ np.abs(known)
    bad = np.nonzero(np.abs(residual) > 1e-7 * scale + _EPS)[0]
    if len(bad):
        group = int(groups[bad[0]])
        relation = linkage.relations[int(linkage.group_relation[group])]
        first = int(linkage.member_cell[linkage.group_start[group]])
        raise DisclosureError(
            f"{relation.left} and {relation.right} do not add up on {list(relation.on)} for "
            f"{quantity} (near {linkage.describe(first)})",
            hint="declare the table's restriction, or its derived coordinates",
        )
    below = hidden[known[hidden] < lower[hidden] - _EPS]
    if len(below):
        raise DisclosureError(
            f"{linkage.describe(int(below[0]))} holds less of {quantity} than a reader "
            "assumes of a published row",
            hint="counts of a table's own population are at least 1, amounts at least 0",
        )


def _component_keys(
    quantity: str, poly: Polytope, class_of: NDArray[np.int64], hidden: NDArray[np.int64]
) -> list[tuple[tuple[str, bytes], NDArray[np.int64]]]:
    """For each component: its cache key (the quantity and the cells hidden in it, in
    index order) and its variables. ``class_of`` maps each hidden cell to its variable."""
    component = poly.var_component[class_of]
    order = np.argsort(component, kind="stable")  # stable: cells stay in index order
    bounds = np.searchsorted(component[order], np.arange(poly.n_components + 1))
    return [
        ((quantity, hidden[order[bounds[c] : bounds[c + 1]]].tobytes()), poly.variables_of(c))
        for c in range(poly.n_components)
    ]


def _audit_quantity(
    linkage: Linkage, flags: NDArray[np.bool_], quantity: str, cache: Cache | None
) -> QuantityAudit:
    kind = quantity_kind(quantity)
    values = linkage.values(quantity)
    present = ~np.isnan(values)
    hidden = np.nonzero(flags & present)[0].astype(np.int64)
    known = np.where(present, values, 0.0)
    lower = linkage.lower_bound(quantity)
    groups, m = linkage.relation_matrix(quantity)
    _check_model(linkage, quantity, groups, m, known, hidden, lower)
    if len(hidden) == 0:
        return QuantityAudit(quantity, hidden, np.zeros(0, dtype=np.bool_), np.zeros(0), {})

    x_true = values[hidden]
    if kind == "count":
        required = linkage.per_table("k")[hidden]
    else:
        required = linkage.per_table("p")[hidden] / 100.0 * x_true
    a = m[:, hidden].tocsr()
    rows = np.nonzero(np.diff(a.indptr) > 0)[0]
    a = a[rows]
    # An inequality sum(part) - sum(whole) <= 0 becomes an equation with a slack variable
    # (whole - part >= 0): one more unknown, with nothing to protect.
    within = np.nonzero(linkage.group_within[groups[rows]])[0]
    room = sp.csr_matrix(
        (np.ones(len(within)), (within, np.arange(len(within)))), shape=(len(rows), len(within))
    )
    a = sp.hstack([a, room], format="csc")
    x_all = np.concatenate((x_true, np.maximum(-(m @ known)[rows][within], 0.0)))
    lower_all = np.concatenate((lower[hidden], np.zeros(len(within))))
    required_all = np.concatenate((required, np.full(len(within), -np.inf)))
    cells = np.arange(len(hidden))

    twins = Twins(a)
    lb = twins.total(lower_all)
    # A reader's right-hand side (published cells moved across) equals a @ x_true up to the
    # rounding of the sums checked above; taking the latter keeps the true point exactly
    # feasible, which the solver's tolerances need when amounts run into millions.
    x_class = twins.total(x_all)
    a_class = a[:, twins.first].tocsr()
    slack = 10.0 * max(t.k for t in linkage.tables) + 1.0
    poly = Polytope(a_class, a_class @ x_class, lb, x_class, slack)

    # A member of a class of twins goes down to its own bound (a twin takes the rest), so
    # its interval is as wide as the class sum's range above the class's lowest sum.
    low = np.where(twins.size > 1, lb, x_class)
    width = np.zeros(twins.n)
    binding: dict[int, Binding] = {}  # class -> groups binding its interval
    active = np.ones(twins.n, dtype=np.bool_)
    fresh = []
    if cache is not None:
        for key, variables in _component_keys(quantity, poly, twins.inverse[cells], hidden):
            before = cache.get(key)
            if before is None:
                fresh.append((key, variables))
            else:
                width[variables] = before[0]
                binding.update((int(variables[j]), g) for j, g in before[1].items())
                active[variables] = False
    if active.any():
        found, binds = certify(poly, x_class, low, twins.most(required_all), kind, active)
        width[active] = found[active]
        binding.update((v, Binding(groups[rows][b.rows], b.duals)) for v, b in binds.items())
    if cache is not None:
        for key, variables in fresh:
            local = {j: binding[int(v)] for j, v in enumerate(variables) if int(v) in binding}
            cache[key] = (width[variables], local)
    gap = required - width[twins.inverse[cells]]
    ok = gap <= 0
    return QuantityAudit(
        quantity,
        hidden,
        ok,
        np.maximum(gap, 0.0),
        {int(hidden[i]): binding.get(int(twins.inverse[i]), _UNKNOWN) for i in np.nonzero(~ok)[0]},
    )


def audit_flags(
    linkage: Linkage, flags: NDArray[np.bool_], cache: Cache | None = None
) -> list[QuantityAudit]:
    """Audit every quantity of the release under the suppression pattern ``flags``.

    ``cache`` (owned by the caller, for one linkage) skips components audited before.
    """
    quantities = linkage.quantities()
    for quantity in quantities:
        linkage.relation_matrix(quantity)  # built before the threads share the linkage
    # Quantities are audited independently of one another (their own relations, values
    # and cache entries), so they run side by side: the LPs of one while another holds
    # the GIL. The results are the same in any order.
    with ThreadPoolExecutor(QUANTITY_THREADS) as pool:
        return list(pool.map(lambda q: _audit_quantity(linkage, flags, q, cache), quantities))


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
