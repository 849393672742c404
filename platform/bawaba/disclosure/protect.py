"""The protection loop: primary, secondary, audit, and more suppression until the audit passes.

When the audit finds a cell too narrowly bounded, a published, unprotected cell of a relation
group that binds its interval (or, when there is none, of the nearest group linked to it
through suppressed cells) is suppressed as well -- the cheapest of those that, by the LP
duals, would widen the interval enough, see :func:`_cover` and :func:`_choose` -- and
secondary suppression and the audit run again (the audit only re-solves the components that
changed). After ``max_rounds`` rounds the release is refused
with a :class:`~bawaba.disclosure.model.DisclosureError` naming a table and coordinates (never a
value): the loop fails closed rather than publish a cell it could not protect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bawaba.disclosure.audit import (
    AuditReport,
    Cache,
    QuantityAudit,
    RunJobs,
    audit_flags,
    in_threads,
    report,
)
from bawaba.disclosure.intervals import Binding
from bawaba.disclosure.linked import Linkage, link
from bawaba.disclosure.model import AuditTable, Unprotectable
from bawaba.disclosure.primary import primary
from bawaba.disclosure.secondary import secondary_flags

__all__ = ["protect"]

MAX_ROUNDS = 20
HEADLINE_AFTER = 3
"""Rounds a cell fails before a headline figure may be hidden for it."""
_NONE = np.zeros(0, dtype=np.int64)
_EPS = 1e-9


@dataclass(frozen=True)
class _Failing:
    """A cell still too narrowly bounded: per quantity the width missing, and the relation
    groups that bound it with their duals (empty when unknown)."""

    need: dict[str, float]
    binding: dict[str, Binding]

    @property
    def groups(self) -> NDArray[np.int64]:
        found = [b.rows for b in self.binding.values()]
        return np.unique(np.concatenate(found)).astype(np.int64) if found else _NONE


def _failing(audits: Sequence[QuantityAudit]) -> dict[int, _Failing]:
    failing: dict[int, _Failing] = {}
    for qa in audits:
        for cell, gap in zip(qa.cells[~qa.ok], qa.shortfall[~qa.ok], strict=True):
            fail = failing.setdefault(int(cell), _Failing({}, {}))
            fail.need[qa.quantity] = float(gap)
            if len(qa.binding[int(cell)].rows):
                fail.binding[qa.quantity] = qa.binding[int(cell)]
    return dict(sorted(failing.items()))


def _rates(linkage: Linkage, binding: Binding, cells: NDArray[np.int64]) -> NDArray[np.float64]:
    """For each of ``cells`` (sorted) and each bound, the rate at which moving the cell's
    value up would lower that bound's LP optimum (widen the interval), were it hidden: the
    sum of the duals of its binding groups, signed by its side in each."""
    sizes = linkage.group_start[binding.rows + 1] - linkage.group_start[binding.rows]
    members = linkage.members_of(binding.rows)
    where = np.searchsorted(cells, linkage.member_cell[members])
    where = np.minimum(where, len(cells) - 1)
    mine = cells[where] == linkage.member_cell[members]
    signed = binding.duals[np.repeat(np.arange(len(binding.rows)), sizes)]
    signed *= linkage.member_sign[members, None]
    rates = np.zeros((len(cells), 2))
    np.add.at(rates, where[mine], signed[mine])
    return rates


def _cover(
    linkage: Linkage,
    values: Mapping[str, NDArray[np.float64]],
    lower: Mapping[str, NDArray[np.float64]],
    cells: NDArray[np.int64],
    fail: _Failing,
) -> NDArray[np.float64]:
    """The share of the missing width that hiding each of ``cells`` (sorted) would win
    back (worst quantity).

    Where the LP duals are known, by their first-order estimate: a cell whose value would
    widen the interval by going up is free to (no upper bound), one that must go down has
    its value above the bound a reader assumes to give. Otherwise, its own value against
    the width missing.
    """
    cover = np.full(len(cells), np.inf)
    for quantity, gap in fail.need.items():
        held = np.nan_to_num(values[quantity][cells] - lower[quantity][cells], nan=0.0)
        binding = fail.binding.get(quantity)
        if binding is None:
            gain = held
        else:
            rates = _rates(linkage, binding, cells)
            up = np.where(rates > _EPS, np.inf, 0.0)
            down = np.where(rates < -_EPS, -rates, 0.0) * held[:, None]
            gain = (up + down).sum(axis=1)
        cover = np.minimum(cover, gain / max(gap, _EPS))
    return cover


def _pool(
    linkage: Linkage,
    flags: NDArray[np.bool_],
    cell: int,
    groups: NDArray[np.int64],
    free: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """The cells whose hiding may widen ``cell``: those of ``groups`` (the ones binding its
    interval; all of its groups when unknown), at least one of them published and
    unprotected; else the cells of the groups of the suppressed ones (the failing cell's
    among them), and so on outwards: the same LP component, so hiding one of them widens
    ``cell`` too. Empty when the whole component is exhausted.
    """
    visited = np.zeros(linkage.n_groups, dtype=np.bool_)
    while len(groups):
        visited[groups] = True
        members = np.unique(linkage.member_cell[linkage.members_of(groups)])
        if (~flags[members] & free[members]).any():
            return members.astype(np.int64)
        reached = [linkage.groups_of(int(c)) for c in members[flags[members]]]
        groups = np.unique(np.concatenate(reached)) if reached else groups[:0]
        groups = groups[~visited[groups]]
    return _NONE


def _choose(linkage: Linkage, candidates: NDArray[np.int64], cover: NDArray[np.float64]) -> int:
    """The cheapest candidate (fewest payers) that covers the width missing; when none
    does, the one covering the largest share.

    The cheapest cell alone is often one that cannot widen the interval at all (it sits in
    an equation that does not bind), or a few hundred dirhams beside a company's million:
    either would take many rounds.
    """
    enough = cover >= 1.0
    if enough.any():
        order = np.lexsort((linkage.rank[candidates], ~enough))
    else:
        order = np.lexsort((linkage.rank[candidates], -cover))
    return int(candidates[order[0]])


def _widen(
    linkage: Linkage,
    flags: NDArray[np.bool_],
    values: Mapping[str, NDArray[np.float64]],
    lower: Mapping[str, NDArray[np.float64]],
    failing: Mapping[int, _Failing],
    given_before: NDArray[np.bool_],
    tries: NDArray[np.int64],
) -> None:
    """Suppress, for each failing cell, one more linked cell (see the functions above).

    A cell still failing after :data:`HEADLINE_AFTER` rounds, or with no unprotected cell
    left to hide, may have a new figure of a headline table hidden for it where cells of
    earlier versions are among those that bound it (a year's total beside months
    published before leaves no other way; in a first release the table is withheld).

    A cell a reader had hidden before that nothing of this release may widen any more is
    marked ``given_before``: what was published before bounds it, not this release."""
    chosen_now = np.zeros(linkage.n_cells, dtype=np.bool_)
    for cell, fail in failing.items():
        groups = fail.groups if len(fail.groups) else linkage.groups_of(cell)
        tries[cell] += 1
        free = ~linkage.protected
        # The pool as the round found it: a cell chosen for another failing cell this round
        # is still a candidate (and may be the one that widens this one too).
        pool = _pool(linkage, flags & ~chosen_now, cell, groups, free)
        if len(pool) == 0 or tries[cell] > HEADLINE_AFTER:
            wider = _pool(linkage, flags & ~chosen_now, cell, groups, ~linkage.known)
            if linkage.known[wider].any():
                free, pool = ~linkage.known, wider
        if len(pool) == 0 and linkage.known[cell]:
            given_before[cell] = True
            continue
        if len(pool) == 0:
            raise Unprotectable(
                f"suppressed cell {linkage.describe(cell)} stays too narrowly bounded and "
                "no published cell linked to it may be suppressed",
                table=linkage.tables[int(linkage.table_of[cell])].name,
                hint="unprotect a linked table, fold rare categories, or drop the table",
            )
        cover = _cover(linkage, values, lower, pool, fail)
        # A cell chosen this round for another failing cell that covers this one's gap too
        # may widen it as well: wait for the next audit.
        if (chosen_now[pool] & (cover >= 1.0)).any():
            continue
        eligible = ~flags[pool] & free[pool]
        if not eligible.any():
            continue  # every candidate was chosen this round: wait for the next audit
        if not (cover[eligible] > 0).any():
            # The duals see no published cell that widens it at first order (a degenerate
            # vertex): fall back on the cells' own values.
            cover = _cover(linkage, values, lower, pool, _Failing(fail.need, {}))
        chosen = _choose(linkage, pool[eligible], cover[eligible])
        flags[chosen] = True
        chosen_now[chosen] = True


def protect(
    tables: Sequence[AuditTable], *, max_rounds: int = MAX_ROUNDS, run_jobs: RunJobs = in_threads
) -> tuple[list[AuditTable], AuditReport]:
    """Suppress what must be suppressed in a release, and audit the result.

    Returns the tables (in the order given) with their ``suppressed`` column set, and the
    audit report, which passes. Raises :class:`DisclosureError` when no suppression pattern
    within ``max_rounds`` rounds passes the audit. ``run_jobs`` runs each round's audit jobs
    (:func:`~bawaba.disclosure.audit.audit_flags`).
    """
    linkage = link([primary(t) for t in tables])
    values = {q: linkage.values(q) for q in linkage.quantities()}
    lower = {q: linkage.lower_bound(q) for q in linkage.quantities()}
    flags = linkage.flags()
    cache: Cache = {}
    given_before = np.zeros(linkage.n_cells, dtype=np.bool_)
    tries = np.zeros(linkage.n_cells, dtype=np.int64)
    for _ in range(max_rounds + 1):
        flags = secondary_flags(linkage, flags)
        audits = audit_flags(linkage, flags, cache, run_jobs=run_jobs)
        failing = {c: f for c, f in _failing(audits).items() if not given_before[c]}
        if not failing:
            done = linkage.with_flags(flags)
            return [done[t.name] for t in tables], report(linkage, audits, given_before)
        _widen(linkage, flags, values, lower, failing, given_before, tries)
    cell = next(iter(failing))
    raise Unprotectable(
        f"suppressed cell {linkage.describe(cell)} is still too narrowly bounded "
        f"after {max_rounds} rounds of suppression",
        table=linkage.tables[int(linkage.table_of[cell])].name,
        hint="fold rare categories or drop a table from the release",
    )
