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

A round of the audit is a few independent jobs (:func:`audit_job`: one quantity, or a
population whose count and amount a per-cell limit couples), each a pure function of the
linkage, the flags and what the cache holds of its components; the caller says how they
run (``run_jobs``: threads here by default, tasks on a Dask cluster in
``publish.on_cluster``), and merges what they learn into its cache.

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
from typing import Protocol

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from bawaba.disclosure.intervals import Binding, Polytope, Twins, certify
from bawaba.disclosure.linked import Coordinates, Linkage, link
from bawaba.disclosure.model import (
    AuditTable,
    DisclosureError,
    quantity_kind,
    quantity_population,
)

__all__ = [
    "AuditJob",
    "AuditReport",
    "CellAudit",
    "JobAudit",
    "QuantityAudit",
    "RunJobs",
    "audit",
    "audit_flags",
    "audit_job",
    "in_threads",
    "report",
]

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


def _tag(quantities: Sequence[str]) -> str:
    """A job's part of a cache key."""
    return "+".join(quantities)


@dataclass(frozen=True)
class AuditJob:
    """Quantities audited together (one, or a population's coupled count and amount), with
    what the cache holds of their components; ``known`` is None when nothing is cached."""

    quantities: tuple[str, ...]
    known: Cache | None


@dataclass(frozen=True)
class JobAudit:
    """A job's audits, and the components it solved, to add to the cache."""

    audits: list[QuantityAudit]
    fresh: Cache


class RunJobs(Protocol):
    """Runs ``audit_job(linkage, flags, job)`` for every job of a round, and returns their
    results in the jobs' order. Jobs share nothing but the (read-only) linkage and flags,
    so they may run anywhere, in any order, each any number of times."""

    def __call__(
        self, linkage: Linkage, flags: NDArray[np.bool_], jobs: Sequence[AuditJob]
    ) -> list[JobAudit]: ...


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


@dataclass(frozen=True)
class _Block:
    """One quantity's hidden values and the relation rows that bound them.

    Columns: the hidden cells (``hidden``, global index), then one slack per inequality
    row. ``groups`` is the relation group of every row.
    """

    quantity: str
    hidden: NDArray[np.int64]
    a: sp.csc_matrix
    groups: NDArray[np.int64]
    x: NDArray[np.float64]
    lower: NDArray[np.float64]
    required: NDArray[np.float64]
    twins: Twins

    @property
    def integral(self) -> bool:
        return quantity_kind(self.quantity) == "count"


def _block(linkage: Linkage, flags: NDArray[np.bool_], quantity: str) -> _Block:
    kind = quantity_kind(quantity)
    values = linkage.values(quantity)
    present = ~np.isnan(values)
    hidden = np.nonzero(flags & present)[0].astype(np.int64)
    known = np.where(present, values, 0.0)
    lower = linkage.lower_bound(quantity)
    groups, m = linkage.relation_matrix(quantity)
    _check_model(linkage, quantity, groups, m, known, hidden, lower)
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
    return _Block(
        quantity,
        hidden,
        a,
        groups[rows],
        np.concatenate((x_true, np.maximum(-(m @ known)[rows][within], 0.0))),
        np.concatenate((lower[hidden], np.zeros(len(within)))),
        np.concatenate((required, np.full(len(within), -np.inf))),
        Twins(a),
    )


@dataclass(frozen=True)
class _Joint:
    """The blocks of one job side by side, their twins merged into one variable per class,
    and the rows that couple a cell's count and amount (band limits, fixed fees).

    Variables: one per class (cells of one block that no row tells apart, with the same
    partner class in the other block and the same limits), then one slack per inequality
    of the coupling rows. ``column_class[b]`` maps block ``b``'s columns to their class.
    """

    a: sp.csr_matrix
    x: NDArray[np.float64]
    lower: NDArray[np.float64]
    required: NDArray[np.float64]
    integral: NDArray[np.bool_]
    size: NDArray[np.int64]
    column_class: tuple[NDArray[np.int64], ...]
    row_groups: NDArray[np.int64]
    """The relation group of every row; -1 for a coupling row."""


def quantities_of(blocks: Sequence[_Block]) -> str:
    return ", ".join(b.quantity for b in blocks)


def _couple(linkage: Linkage, blocks: Sequence[_Block]) -> _Joint:
    """Merge ``blocks`` (one quantity alone, or a population's count and amount)."""
    count = next((i for i, b in enumerate(blocks) if b.integral), None)
    amount = next((i for i, b in enumerate(blocks) if not b.integral), None)
    coupled = count is not None and amount is not None
    low, high = linkage.unit_limits() if coupled else (None, None)
    # The class of every cell in each block, so the other block can refer to it.
    class_in = [np.full(linkage.n_cells, -1, dtype=np.int64) for _ in blocks]
    for i, b in enumerate(blocks):
        class_in[i][b.hidden] = b.twins.inverse[: len(b.hidden)]
    keys = []
    for i, b in enumerate(blocks):
        n = b.a.shape[1]
        key = np.full((n, 5), -2.0)
        key[:, 0] = i
        key[:, 1] = b.twins.inverse
        if coupled and low is not None and high is not None:
            other = amount if i == count else count
            assert other is not None
            key[: len(b.hidden), 2] = class_in[other][b.hidden]
            key[: len(b.hidden), 3] = np.nan_to_num(low[b.hidden], nan=-1.0)
            key[: len(b.hidden), 4] = np.nan_to_num(high[b.hidden], nan=-1.0)
        keys.append(key)
    stacked = np.concatenate(keys)
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    n_class = len(first)
    x_all = np.concatenate([b.x for b in blocks])
    lower_all = np.concatenate([b.lower for b in blocks])
    required_all = np.concatenate([b.required for b in blocks])
    x = np.bincount(inverse, weights=x_all, minlength=n_class).astype(np.float64)
    lower = np.bincount(inverse, weights=lower_all, minlength=n_class).astype(np.float64)
    required = np.full(n_class, -np.inf)
    np.maximum.at(required, inverse, required_all)
    integral = np.concatenate([np.full(b.a.shape[1], b.integral) for b in blocks])[first]
    a = sp.block_diag([b.a for b in blocks], format="csc")[:, first].tocsr()
    row_groups = np.concatenate([b.groups for b in blocks])
    bounds = np.cumsum([0, *(b.a.shape[1] for b in blocks)])
    column_class = tuple(inverse[bounds[i] : bounds[i + 1]] for i in range(len(blocks)))

    n_extra, coupling = 0, sp.csr_matrix((0, n_class))
    if coupled and count is not None and amount is not None and low is not None:
        assert high is not None
        # A class of the count block and one of the amount block with the same key are the
        # same cells: their sums obey each cell's limits, and any sums that obey them split
        # into cells that do (share the amount in proportion to the count).
        cells = blocks[count].hidden
        limited = np.nonzero((class_in[amount][cells] >= 0) & ~np.isnan(low[cells]))[0]
        count_var, first_cell = np.unique(column_class[count][limited], return_index=True)
        cells = cells[limited[first_cell]]
        amount_var = column_class[amount][np.searchsorted(blocks[amount].hidden, cells)]
        lo, hi = low[cells], high[cells]
        fee = ~np.isnan(hi) & (hi <= lo)
        floor = ~fee & (lo > 0)
        ceiling = ~fee & ~np.isnan(hi)
        # Rows: amount - fee x count = 0; amount - low x count - slack = 0;
        # high x count - amount - slack = 0 (the slacks are at least 0).
        parts = [
            (fee, 1.0, -lo, False),
            (floor, 1.0, -lo, True),
            (ceiling, -1.0, hi, True),
        ]
        rows_i, cols_i, vals, slack_x = [], [], [], []
        row = 0
        for mask, sign_a, per_count, with_slack in parts:
            n = int(mask.sum())
            r = np.arange(row, row + n)
            rows_i += [r, r]
            cols_i += [amount_var[mask], count_var[mask]]
            vals += [np.full(n, sign_a), per_count[mask]]
            if with_slack:
                rows_i.append(r)
                cols_i.append(n_class + n_extra + np.arange(n))
                vals.append(np.full(n, -1.0))
                slack_x.append(sign_a * x[amount_var[mask]] + per_count[mask] * x[count_var[mask]])
                n_extra += n
            row += n
        coupling = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_i))),
            shape=(row, n_class + n_extra),
        )
        residual = coupling[:, :n_class] @ x
        spread = np.concatenate(slack_x) if slack_x else np.zeros(0)
        scale = 1e-7 * (abs(coupling[:, :n_class]) @ np.abs(x)) + _EPS
        if (np.abs(residual[: int(fee.sum())]) > scale[: int(fee.sum())]).any() or (
            spread < -scale[int(fee.sum()) :]
        ).any():
            raise DisclosureError(
                "a cell's amount lies outside the limits per transaction a reader is told "
                f"({quantities_of(blocks)})",
                hint="check the amount bands and the fixed fees of the services",
            )
        a = sp.vstack([sp.hstack([a, sp.csr_matrix((a.shape[0], n_extra))]), coupling])
        a = a.tocsr()
        x = np.concatenate((x, np.maximum(spread, 0.0)))
        lower = np.concatenate((lower, np.zeros(n_extra)))
        required = np.concatenate((required, np.full(n_extra, -np.inf)))
        integral = np.concatenate((integral, np.zeros(n_extra, dtype=np.bool_)))
        row_groups = np.concatenate((row_groups, np.full(row, -1, dtype=np.int64)))
    size = np.concatenate(
        (np.bincount(inverse, minlength=n_class), np.ones(n_extra, dtype=np.int64))
    )
    return _Joint(a, x, lower, required, integral, size, column_class, row_groups)


def audit_job(linkage: Linkage, flags: NDArray[np.bool_], job: AuditJob) -> JobAudit:
    """Audit ``job.quantities`` together: one quantity, or a population whose count and
    amount a per-cell limit couples. Pure: what it learns goes back in ``fresh``."""
    quantities = job.quantities
    blocks = [_block(linkage, flags, q) for q in quantities]
    empty = np.zeros(0, dtype=np.int64)
    audits = [
        QuantityAudit(b.quantity, empty, np.zeros(0, dtype=np.bool_), np.zeros(0), {})
        for b in blocks
        if len(b.hidden) == 0
    ]
    blocks = [b for b in blocks if len(b.hidden)]
    if not blocks:
        return JobAudit(audits, {})
    joint = _couple(linkage, blocks)
    # A reader's right-hand side (published cells moved across) equals a @ x_true up to the
    # rounding of the sums checked above; taking the latter keeps the true point exactly
    # feasible, which the solver's tolerances need when amounts run into millions.
    slack = 10.0 * max(t.k for t in linkage.tables) + 1.0
    poly = Polytope(joint.a, joint.a @ joint.x, joint.lower, joint.x, slack)

    # A member of a class of twins goes down to its own bound (a twin takes the rest), so
    # its interval is as wide as the class sum's range above the class's lowest sum.
    low = np.where(joint.size > 1, joint.lower, joint.x)
    n_var = len(joint.x)
    width = np.zeros(n_var)
    binding: dict[int, Binding] = {}  # class -> groups binding its interval
    active = np.ones(n_var, dtype=np.bool_)
    unknown = []
    if job.known is not None:
        # Hidden values as one index: block b's cells offset by b times the cell count.
        ids = np.concatenate([b.hidden + i * linkage.n_cells for i, b in enumerate(blocks)])
        class_of = np.concatenate(
            [c[: len(b.hidden)] for c, b in zip(joint.column_class, blocks, strict=True)]
        )
        order = np.argsort(ids, kind="stable")
        for key, variables in _component_keys(_tag(quantities), poly, class_of[order], ids[order]):
            before = job.known.get(key)
            if before is None:
                unknown.append((key, variables))
            else:
                width[variables] = before[0]
                binding.update((int(variables[j]), g) for j, g in before[1].items())
                active[variables] = False
    if active.any():
        found, binds = certify(poly, joint.x, low, joint.required, joint.integral, active)
        width[active] = found[active]
        for v, bound in binds.items():
            groups = joint.row_groups[bound.rows]
            relation = groups >= 0
            binding[v] = Binding(groups[relation], bound.duals[relation])
    fresh: Cache = {}
    for key, variables in unknown:
        local = {j: binding[int(v)] for j, v in enumerate(variables) if int(v) in binding}
        fresh[key] = (width[variables], local)
    for b, classes in zip(blocks, joint.column_class, strict=True):
        n = len(b.hidden)
        cell_class = classes[:n]
        gap = b.required[:n] - width[cell_class]
        ok = gap <= 0
        audits.append(
            QuantityAudit(
                b.quantity,
                b.hidden,
                ok,
                np.maximum(gap, 0.0),
                {
                    int(b.hidden[i]): binding.get(int(cell_class[i]), _UNKNOWN)
                    for i in np.nonzero(~ok)[0]
                },
            )
        )
    return JobAudit(audits, fresh)


def _jobs(linkage: Linkage) -> list[tuple[str, ...]]:
    """The quantities audited apart, and together where a limit couples count and amount."""
    coupled = set(linkage.coupled_populations())
    jobs: dict[str, list[str]] = {}
    for quantity in linkage.quantities():
        population = quantity_population(quantity)
        key = population if population in coupled else quantity
        jobs.setdefault(key, []).append(quantity)
    return [tuple(sorted(q, key=quantity_kind, reverse=True)) for q in jobs.values()]


def in_threads(
    linkage: Linkage, flags: NDArray[np.bool_], jobs: Sequence[AuditJob]
) -> list[JobAudit]:
    """The jobs side by side in this process: the LPs of one while another holds the GIL."""
    with ThreadPoolExecutor(QUANTITY_THREADS) as pool:
        return list(pool.map(lambda job: audit_job(linkage, flags, job), jobs))


def audit_flags(
    linkage: Linkage,
    flags: NDArray[np.bool_],
    cache: Cache | None = None,
    *,
    run_jobs: RunJobs = in_threads,
) -> list[QuantityAudit]:
    """Audit every quantity of the release under the suppression pattern ``flags``.

    ``cache`` (owned by the caller, for one linkage) skips components audited before; the
    components solved now are added to it. ``run_jobs`` runs the round's jobs.
    """
    # What the jobs would build lazily is built once, before they share the linkage: no job
    # writes to it while another reads it, or while a cluster sends a copy of it.
    for quantity in linkage.quantities():
        linkage.relation_matrix(quantity)
    linkage.unit_limits()
    linkage.per_table("k")
    known: dict[str, Cache] = {}
    for key, entry in (cache or {}).items():
        known.setdefault(key[0], {})[key] = entry
    jobs = [AuditJob(q, None if cache is None else known.get(_tag(q), {})) for q in _jobs(linkage)]
    done = run_jobs(linkage, flags, jobs)
    if cache is not None:
        for job in done:
            cache.update(job.fresh)
    return sorted((qa for job in done for qa in job.audits), key=lambda qa: qa.quantity)


def report(
    linkage: Linkage,
    audits: Sequence[QuantityAudit],
    given_before: NDArray[np.bool_] | None = None,
) -> AuditReport:
    """The publishable report of an audit: locations and booleans only.

    A cell ``given_before`` (hidden in a version published before, and bounded as it is by
    what was published before alone: ``disclosure.protect``) is reported not ok but is no
    failure of this release."""
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
        failed = qa.cells[~qa.ok]
        if given_before is not None:
            failed = failed[~given_before[failed]]
        failures.extend(
            CellAudit(*linkage.locate(int(cell)), qa.quantity, False) for cell in failed
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
