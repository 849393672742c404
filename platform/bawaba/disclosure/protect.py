"""The protection loop: primary, secondary, audit, and more suppression until the audit passes.

When the audit finds a cell too narrowly bounded, a published, unprotected cell of a relation
group containing it (or, when there is none, of the nearest group linked to it through
suppressed cells) is suppressed as well -- the cheapest whose value covers the width missing,
see :func:`_choose` -- and secondary suppression and the audit run again (the audit only
re-solves the components that changed). After ``max_rounds`` rounds the release is refused
with a :class:`~bawaba.disclosure.model.DisclosureError` naming a table and coordinates (never a
value): the loop fails closed rather than publish a cell it could not protect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bawaba.disclosure.audit import AuditReport, Cache, QuantityAudit, audit_flags, report
from bawaba.disclosure.linked import Linkage, link
from bawaba.disclosure.model import AuditTable, DisclosureError
from bawaba.disclosure.primary import primary
from bawaba.disclosure.secondary import secondary_flags

__all__ = ["protect"]

MAX_ROUNDS = 20
_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _Failing:
    """A cell still too narrowly bounded: per quantity the width missing, and the relation
    groups that bound it (from the LP duals; empty when unknown)."""

    need: dict[str, float]
    binding: NDArray[np.int64]


def _failing(audits: Sequence[QuantityAudit]) -> dict[int, _Failing]:
    need: dict[int, dict[str, float]] = {}
    binding: dict[int, list[NDArray[np.int64]]] = {}
    for qa in audits:
        for cell, gap in zip(qa.cells[~qa.ok], qa.shortfall[~qa.ok], strict=True):
            need.setdefault(int(cell), {})[qa.quantity] = float(gap)
            binding.setdefault(int(cell), []).append(qa.binding.get(int(cell), _NONE))
    return {
        cell: _Failing(need[cell], np.unique(np.concatenate(binding[cell])).astype(np.int64))
        for cell in sorted(need)
    }


def _cover(
    values: Mapping[str, NDArray[np.float64]],
    candidates: NDArray[np.int64],
    need: Mapping[str, float],
) -> NDArray[np.float64]:
    """The share of the missing width each candidate's own value covers (worst quantity)."""
    cover = np.full(len(candidates), np.inf)
    for quantity, gap in need.items():
        held = np.nan_to_num(values[quantity][candidates], nan=0.0)
        cover = np.minimum(cover, held / max(gap, 1e-9))
    return cover


def _candidates(
    linkage: Linkage, flags: NDArray[np.bool_], cell: int, binding: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Published unprotected cells that can widen ``cell``, and in how many of the groups
    searched each one sits.

    First the groups that bind its interval (the LP says which); then all of its groups;
    then, when every cell there is suppressed or protected, the groups of those suppressed
    cells, and so on outwards (the same LP component, so hiding one widens ``cell`` too).
    Empty when the whole component is exhausted.
    """
    visited = np.zeros(linkage.n_groups, dtype=np.bool_)
    for groups in (binding, linkage.groups_of(cell)):
        while len(groups):
            visited[groups] = True
            members = linkage.member_cell[linkage.members_of(groups)]
            eligible = members[~flags[members] & ~linkage.protected[members]]
            if len(eligible):
                cells, shared = np.unique(eligible, return_counts=True)
                return cells, shared.astype(np.int64)
            hidden = np.unique(members[flags[members]])
            reached = [linkage.groups_of(int(c)) for c in hidden]
            groups = np.unique(np.concatenate(reached)) if reached else groups[:0]
            groups = groups[~visited[groups]]
        visited[:] = False
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _choose(
    linkage: Linkage,
    values: Mapping[str, NDArray[np.float64]],
    candidates: NDArray[np.int64],
    shared: NDArray[np.int64],
    need: Mapping[str, float],
) -> int:
    """Among the candidates whose own value covers the width missing (for every failing
    quantity), the one sharing the most binding groups with the failing cell, then the
    cheapest; when none covers it, the one covering the largest share.

    A cell in every binding equation of the failing one loosens them all; a cell in one
    of them is held by its own other equations. And the cheapest cell alone -- fewest
    payers -- is often a few hundred dirhams beside a company's million: either would take
    many rounds.
    """
    cover = _cover(values, candidates, need)
    enough = cover >= 1.0
    if enough.any():
        order = np.lexsort((linkage.rank[candidates], -shared, ~enough))
    else:
        order = np.lexsort((linkage.rank[candidates], -shared, -cover))
    return int(candidates[order[0]])


def _widen(
    linkage: Linkage,
    flags: NDArray[np.bool_],
    values: Mapping[str, NDArray[np.float64]],
    failing: Mapping[int, _Failing],
) -> None:
    """Suppress, for each failing cell, one more linked cell (see the functions above)."""
    chosen_now = np.zeros(linkage.n_cells, dtype=np.bool_)
    for cell, fail in failing.items():
        candidates, shared = _candidates(linkage, flags, cell, fail.binding)
        if len(candidates) == 0:
            raise DisclosureError(
                f"suppressed cell {linkage.describe(cell)} stays too narrowly bounded and "
                "no published cell linked to it may be suppressed",
                hint="unprotect a linked table, fold rare categories, or drop the table",
            )
        chosen = _choose(linkage, values, candidates, shared, fail.need)
        # A cell chosen this round for another failing cell, as close to this one and
        # covering its gap too, may widen it as well: wait for the next audit.
        groups = fail.binding if len(fail.binding) else linkage.groups_of(cell)
        members = linkage.member_cell[linkage.members_of(groups)]
        earlier, times = np.unique(members[chosen_now[members]], return_counts=True)
        close = earlier[times >= shared[np.searchsorted(candidates, chosen)]]
        if len(close) and (_cover(values, close, fail.need) >= 1.0).any():
            continue
        flags[chosen] = True
        chosen_now[chosen] = True


def protect(
    tables: Sequence[AuditTable], *, max_rounds: int = MAX_ROUNDS
) -> tuple[list[AuditTable], AuditReport]:
    """Suppress what must be suppressed in a release, and audit the result.

    Returns the tables (in the order given) with their ``suppressed`` column set, and the
    audit report, which passes. Raises :class:`DisclosureError` when no suppression pattern
    within ``max_rounds`` rounds passes the audit.
    """
    linkage = link([primary(t) for t in tables])
    values = {q: linkage.values(q) for q in linkage.quantities()}
    flags = linkage.flags()
    cache: Cache = {}
    for _ in range(max_rounds + 1):
        flags = secondary_flags(linkage, flags)
        audits = audit_flags(linkage, flags, cache)
        failing = _failing(audits)
        if not failing:
            done = linkage.with_flags(flags)
            return [done[t.name] for t in tables], report(linkage, audits)
        _widen(linkage, flags, values, failing)
    raise DisclosureError(
        f"suppressed cell {linkage.describe(next(iter(failing)))} is still too narrowly bounded "
        f"after {max_rounds} rounds of suppression",
        hint="fold rare categories or drop a table from the release",
    )
