"""Secondary (complementary) suppression: hide enough published cells that no hidden cell can
be subtracted out of a relation.

A relation group is one equation ``sum(left cells) = sum(right cells)``. It gives a hidden
cell away when

* it holds exactly one suppressed cell (the rest are published: subtract them);
* all of its suppressed cells are single-payer cells (each such payer knows their own and
  subtracts it); or
* it holds two suppressed cells and one is a single-payer cell (that payer learns the other
  exactly) -- a case PRIVACY.md's "only single-payer members" leaves out.

For every such group the cheapest published cell of the group that is not in a protected
table (or, when there is none, a new figure of one) is suppressed too (fewest payers, then
table name, then coordinates: see :attr:`~bawaba.disclosure.linked.Linkage.rank`), and the
check is repeated until no group gives a cell away. This is a heuristic: it removes the
exact disclosures a reader finds by one subtraction; the linear-programming audit then
checks the intervals a reader can derive from all relations at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bawaba.disclosure.linked import Linkage, link
from bawaba.disclosure.model import AuditTable, Unprotectable

__all__ = ["cheapest", "secondary", "secondary_flags", "unsafe_groups"]


def unsafe_groups(linkage: Linkage, flags: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """For every relation group: does it give a suppressed cell away (see module doc)?
    Inequalities (``within`` relations) never do on their own."""
    hidden = flags[linkage.member_cell]
    single = hidden & (linkage.payers[linkage.member_cell] <= 1)
    size = linkage.n_groups
    n_hidden = np.bincount(linkage.member_group, weights=hidden, minlength=size)
    n_single = np.bincount(linkage.member_group, weights=single, minlength=size)
    unsafe = (n_hidden >= 1) & (
        (n_hidden == 1) | (n_single == n_hidden) | ((n_hidden == 2) & (n_single >= 1))
    )
    return np.asarray(unsafe & ~linkage.group_within, dtype=np.bool_)


def cheapest(
    linkage: Linkage,
    flags: NDArray[np.bool_],
    rows: NDArray[np.int64],
    free: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Among the member ``rows``, per group: the cheapest published cell that is ``free``
    to hide (default: unprotected).

    Returns the groups that have one, and that cell for each, in group order.
    """
    cells = linkage.member_cell[rows]
    eligible = ~flags[cells] & (~linkage.protected if free is None else free)[cells]
    groups, cells = linkage.member_group[rows][eligible], cells[eligible]
    order = np.lexsort((linkage.rank[cells], groups))
    groups, cells = groups[order], cells[order]
    first = np.ones(len(groups), dtype=np.bool_)
    first[1:] = groups[1:] != groups[:-1]
    return groups[first], cells[first]


def _stuck(linkage: Linkage, flags: NDArray[np.bool_], group: int) -> Unprotectable:
    """The error for a group that gives a cell away with nothing left to suppress, naming
    a cell this release hides (not one a reader had hidden before)."""
    rows = np.arange(linkage.group_start[group], linkage.group_start[group + 1])
    cells = linkage.member_cell[rows]
    hidden = cells[flags[cells]]
    new = hidden[~linkage.known[hidden]]
    cell = int((new if len(new) else hidden).min())
    relation = linkage.relations[int(linkage.group_relation[group])]
    return Unprotectable(
        f"suppressed cell {linkage.describe(cell)} can be recovered from "
        f"{relation.left} and {relation.right} on {list(relation.on)}, and every other cell "
        "of that relation is suppressed or in a protected table",
        table=linkage.tables[int(linkage.table_of[cell])].name,
        hint="unprotect one of the tables, fold the rare category, or drop the table",
    )


def _given_before(linkage: Linkage, flags: NDArray[np.bool_], group: int) -> bool:
    """Does a group that gives a cell away with nothing left to suppress hide only cells a
    reader had hidden before? Then what was published before gives them away as much
    without this release, and nothing it suppresses changes that."""
    rows = np.arange(linkage.group_start[group], linkage.group_start[group + 1])
    cells = linkage.member_cell[rows]
    return bool(linkage.known[cells[flags[cells]]].all())


def secondary_flags(linkage: Linkage, flags: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``flags`` with complementary suppressions added until no group gives a cell away.

    Every round suppresses, for each unsafe group, its cheapest eligible cell. Raises
    :class:`Unprotectable` (naming the cell's table) when an unsafe group has no eligible
    cell left: fail closed.
    """
    flags = flags.copy()
    given_before = np.zeros(linkage.n_groups, dtype=np.bool_)
    while True:
        unsafe = unsafe_groups(linkage, flags) & ~given_before
        if not unsafe.any():
            return flags
        rows = np.nonzero(unsafe[linkage.member_group])[0].astype(np.int64)
        groups, cells = cheapest(linkage, flags, rows)
        unsafe[groups] = False
        if unsafe.any():
            # No unprotected cell left where earlier versions fix some of the cells: a new
            # headline figure, as a last resort (in a first release the table is withheld).
            rows = np.nonzero(unsafe[linkage.member_group])[0].astype(np.int64)
            fixed = np.bincount(
                linkage.member_group[rows],
                weights=linkage.known[linkage.member_cell[rows]],
                minlength=linkage.n_groups,
            )
            rows = rows[fixed[linkage.member_group[rows]] > 0]
            more_groups, more = cheapest(linkage, flags, rows, ~linkage.known)
            unsafe[more_groups] = False
            cells = np.concatenate([cells, more])
        for group in np.flatnonzero(unsafe):
            if not _given_before(linkage, flags, int(group)):
                raise _stuck(linkage, flags, int(group))
            given_before[group] = True
        flags[cells] = True


def secondary(tables: Sequence[AuditTable]) -> list[AuditTable]:
    """The tables with complementary suppressions added, in the order given.

    Input tables carry their primary suppressions in ``suppressed``.
    """
    linkage = link(tables)
    done = linkage.with_flags(secondary_flags(linkage, linkage.flags()))
    return [done[t.name] for t in tables]
