"""How a reader links published tables: relations, relation groups, and the cell index.

Two tables that publish the same quantity (``epay_success:amount``) describe the same rows
at two granularities, so on their common coordinates ``C`` they add up: for every value of
``C``, the sum of the first table's cells equals the sum of the second's. That is the whole
attacker model of the audit (PRIVACY.md, S2), and the one thing both secondary suppression
and the audit read. Within one table there is no relation: tables publish no margins; the
annual table is the margin of the monthly one.

A restriction (``payment_method = direct_debit``) counts as a coordinate with a single value,
so a restricted table is equated with another only when every restriction of either is on a
coordinate both can see, and is then compared with the matching slice of the other table
only. A value of ``C`` present on one side only means the other side is a known zero.

When the other table cannot select the slice (it has no payment method), a reader still
knows the slice is part of it: on each value of ``C`` the restricted table's sum is *at
most* the other's. PRIVACY.md's rule leaves such pairs unlinked; the audit keeps them as
inequalities (a ``within`` relation), since an upper bound can narrow an interval as well.
Secondary suppression reads equations only: an inequality never gives a cell away alone.

Relations are pairwise, and pairwise is all a reader can use only when the tables'
coordinates do not cross in a cycle: :func:`cycle` finds the releases where they do, and
:func:`link` refuses them.

Cells of all tables get one global index (tables in name order, rows in table order); a
*relation group* is the set of cells on both sides of one equation, with sign +1 on the
left and -1 on the right. Everything downstream works on these integer arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from bawaba.disclosure.model import (
    PER_TRANSACTION_HIGH,
    PER_TRANSACTION_LOW,
    PUBLISHED_BEFORE,
    SUPPRESSED,
    AuditTable,
    DisclosureError,
    QuantityKind,
    quantity_kind,
    quantity_population,
)

__all__ = ["Linkage", "Relation", "cycle", "link", "period_end", "relation", "relations"]

Coordinates = tuple[tuple[str, str], ...]
"""A cell's location: ``(("department", "RTA"), ("month", "2024-03"))`` in table order."""


@dataclass(frozen=True)
class Relation:
    """Two tables that add up to each other on ``on`` for each of ``quantities``."""

    left: str
    right: str
    on: tuple[str, ...]
    quantities: tuple[str, ...]
    within: bool = False
    """``left`` covers a slice of ``right``'s rows that ``right`` cannot select: on each
    value of ``on`` left's sum is at most right's, not equal to it."""


def _scope(table: AuditTable) -> set[str]:
    """The coordinates a reader can place the table's cells on, restrictions included."""
    return {*table.coordinates, *table.restriction}


def relation(a: AuditTable, b: AuditTable) -> Relation | None:
    """The relation between two tables, or None when a reader can say nothing of one from
    the other."""
    shared = tuple(sorted(set(a.quantities) & set(b.quantities)))
    if not shared:
        return None
    for column in a.restriction.keys() & b.restriction.keys():
        if a.restriction[column] != b.restriction[column]:
            return None  # disjoint slices
    on = tuple(sorted(_scope(a) & _scope(b)))
    if {*a.restriction, *b.restriction} <= set(on):
        left, right = sorted((a, b), key=lambda t: t.name)
        return Relation(left.name, right.name, on, shared)
    for part, whole in ((a, b), (b, a)):
        # ``part`` is a slice of ``whole`` that ``whole`` cannot select.
        if (
            set(whole.restriction) <= set(on)
            and whole.restriction.items() <= part.restriction.items()
        ):
            return Relation(part.name, whole.name, on, shared, within=True)
    return None  # each covers rows the other does not


def relations(tables: Sequence[AuditTable]) -> tuple[Relation, ...]:
    """Every relation among ``tables``, in name order."""
    ordered = sorted(tables, key=lambda t: t.name)
    found = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            r = relation(a, b)
            if r is not None:
                found.append(r)
    return tuple(found)


def cycle(tables: Sequence[AuditTable]) -> tuple[str, ...]:
    """Tables that publish a quantity together and cross their coordinates in a cycle, by
    name (empty when there is none).

    The relations equate two tables at a time. That is all a reader can derive when the
    tables' coordinate sets form an acyclic hypergraph: then any values that agree pairwise
    are the margins of some set of rows (Vorob'ev 1962; Beeri, Fagin, Maier and Yannakakis
    1983), so the audit sees every interval a reader can. Around a cycle -- by department
    and channel, by department and payment method, by channel and payment method -- the
    three tables together say more than any two (a cell absent from one table is zero in
    the others' rows too) and the audit would pass cells a reader can pin down. The test
    is the Graham (GYO) reduction: drop coordinates that only one table has and tables
    whose coordinates another table has, until nothing changes; what is left is a cycle.
    """
    for quantity in sorted({q for t in tables for q in t.quantities}):
        holders = sorted((t for t in tables if quantity in t.quantities), key=lambda t: t.name)
        edges = {t.name: _scope(t) for t in holders}
        changed = True
        while changed and len(edges) > 1:
            changed = False
            seen: dict[str, int] = {}
            for scope in edges.values():
                for coordinate in scope:
                    seen[coordinate] = seen.get(coordinate, 0) + 1
            for name, scope in edges.items():
                lonely = {c for c in scope if seen[c] == 1}
                if lonely:
                    edges[name] = scope - lonely
                    changed = True
            for name in sorted(edges):
                others = (s for n, s in edges.items() if n != name)
                if any(edges[name] <= other for other in others):
                    del edges[name]
                    changed = True
        if len(edges) > 1:
            return tuple(sorted(edges))
    return ()


@dataclass(frozen=True, eq=False)
class Linkage:
    """All tables of a release on one cell index, with their relation groups.

    ``member_group[i]``, ``member_cell[i]``, ``member_sign[i]``: cell ``member_cell[i]``
    sits in relation group ``member_group[i]`` on side ``member_sign[i]`` (+1 left, -1
    right). ``group_relation[g]`` is the index in ``relations`` of group ``g``.
    """

    tables: tuple[AuditTable, ...]
    """In name order."""
    relations: tuple[Relation, ...]
    offsets: NDArray[np.int64]
    """Table ``t`` holds cells ``offsets[t]`` to ``offsets[t + 1] - 1``."""
    member_group: NDArray[np.int64]
    member_cell: NDArray[np.int64]
    member_sign: NDArray[np.int8]
    group_relation: NDArray[np.int64]
    payers: NDArray[np.int64]
    protected: NDArray[np.bool_]
    rank: NDArray[np.int64]
    """Secondary-suppression cost order, 0 cheapest: fewest payers, then table name, then the
    table's coordinates in sort order. It makes every choice deterministic."""

    @property
    def n_cells(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_groups(self) -> int:
        return len(self.group_relation)

    @cached_property
    def known(self) -> NDArray[np.bool_]:
        """For every cell: does a reader have it already, as a version published before
        (``PUBLISHED_BEFORE``, or a table audited ``as_published``)? Nothing this release
        does changes what such a cell tells."""
        return _published_or(self.tables, lambda t: t.as_published)

    @cached_property
    def table_of(self) -> NDArray[np.int64]:
        """The table index of every cell."""
        sizes = np.diff(self.offsets)
        return np.repeat(np.arange(len(self.tables), dtype=np.int64), sizes)

    @cached_property
    def group_within(self) -> NDArray[np.bool_]:
        """For every group: is it an inequality (a ``within`` relation)?"""
        within = np.array([r.within for r in self.relations], dtype=np.bool_)
        return within[self.group_relation] if len(within) else np.zeros(0, dtype=np.bool_)

    @cached_property
    def group_start(self) -> NDArray[np.int64]:
        """Members are sorted by group: group ``g`` is rows ``group_start[g]`` to
        ``group_start[g + 1] - 1`` of the member arrays."""
        bounds = np.arange(self.n_groups + 1, dtype=np.int64)
        return np.searchsorted(self.member_group, bounds).astype(np.int64)

    @cached_property
    def _by_cell(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        order = np.argsort(self.member_cell, kind="stable").astype(np.int64)
        bounds = np.arange(self.n_cells + 1, dtype=np.int64)
        starts = np.searchsorted(self.member_cell[order], bounds).astype(np.int64)
        return order, starts

    @cached_property
    def _relation_matrices(self) -> dict[str, tuple[NDArray[np.int64], sp.csr_matrix]]:
        return {}

    def relation_matrix(self, quantity: str) -> tuple[NDArray[np.int64], sp.csr_matrix]:
        """The relation groups that carry ``quantity``, and their equations as a sparse
        matrix over all cells (+1 left, -1 right): each row sums to zero over the true
        values, or to at most zero for an inequality (:attr:`group_within`).

        Built once per quantity: it depends on the linkage alone, and the protection loop
        audits the same linkage round after round."""
        if quantity not in self._relation_matrices:
            linked = [i for i, r in enumerate(self.relations) if quantity in r.quantities]
            in_relation = np.isin(self.group_relation[self.member_group], linked)
            groups, row = np.unique(self.member_group[in_relation], return_inverse=True)
            m = sp.csr_matrix(
                (
                    self.member_sign[in_relation].astype(np.float64),
                    (row, self.member_cell[in_relation]),
                ),
                shape=(len(groups), self.n_cells),
            )
            self._relation_matrices[quantity] = (groups.astype(np.int64), m)
        return self._relation_matrices[quantity]

    def groups_of(self, cell: int) -> NDArray[np.int64]:
        """The relation groups a cell belongs to, in group order."""
        order, starts = self._by_cell
        return np.sort(self.member_group[order[starts[cell] : starts[cell + 1]]])

    def members_of(self, groups: NDArray[np.int64]) -> NDArray[np.int64]:
        """The member rows of ``groups`` (indices into the member arrays)."""
        start, stop = self.group_start[groups], self.group_start[groups + 1]
        if len(groups) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(
            [np.arange(a, b, dtype=np.int64) for a, b in zip(start, stop, strict=True)]
        )

    def flags(self) -> NDArray[np.bool_]:
        """The current ``suppressed`` flags of every cell."""
        if not self.tables:
            return np.zeros(0, dtype=np.bool_)
        return np.concatenate([t.suppressed.to_numpy().astype(np.bool_) for t in self.tables])

    def values(self, quantity: str) -> NDArray[np.float64]:
        """The true value of ``quantity`` in every cell (NaN in tables without it)."""
        out = np.full(self.n_cells, np.nan)
        for t, table in enumerate(self.tables):
            measure = table.quantities.get(quantity)
            if measure is not None:
                column = table.cells.get_column(measure).cast(pl.Float64)
                out[self.offsets[t] : self.offsets[t + 1]] = column.to_numpy()
        return out

    def quantities(self) -> tuple[str, ...]:
        """Every audited quantity of the release, sorted."""
        return tuple(sorted({q for t in self.tables for q in t.quantities}))

    def lower_bound(self, quantity: str) -> NDArray[np.float64]:
        """What a reader knows at least of every cell's value: a published row of a count is
        at least 1 when the cell exists because of that count's population, else 0; an
        amount is at least 0, or its lowest amount per transaction times that count."""
        population = quantity_population(quantity)
        kind: QuantityKind = quantity_kind(quantity)
        counts = np.zeros(self.n_cells)
        for t, table in enumerate(self.tables):
            if table.existence_population == population:
                counts[self.offsets[t] : self.offsets[t + 1]] = 1.0
        if kind == "count":
            return np.where(~np.isnan(self.values(quantity)), counts, 0.0)
        low, _ = self.unit_limits()
        return np.where(np.isnan(low), 0.0, low * counts)

    @cached_property
    def _unit_limits(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        low, high = np.full(self.n_cells, np.nan), np.full(self.n_cells, np.nan)
        for t, table in enumerate(self.tables):
            if table.coupled:
                span = slice(self.offsets[t], self.offsets[t + 1])
                low[span] = table.cells.get_column(PER_TRANSACTION_LOW).cast(pl.Float64)
                high[span] = table.cells.get_column(PER_TRANSACTION_HIGH).cast(pl.Float64)
        return low, high

    def unit_limits(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Every cell's known limits of its amount per transaction (NaN: none), see
        :data:`~bawaba.disclosure.model.PER_TRANSACTION_LOW`."""
        return self._unit_limits

    def coupled_populations(self) -> tuple[str, ...]:
        """Populations whose counts and amounts a per-cell limit couples: audited jointly."""
        found: set[str] = set()
        for table in self.tables:
            if table.coupled:
                found.update(quantity_population(q) for q in table.quantities)
        return tuple(sorted(found))

    def per_table(self, attribute: Literal["k", "p"]) -> NDArray[np.float64]:
        """A table's k or p, spread over its cells."""
        per = [float(t.k if attribute == "k" else t.p) for t in self.tables]
        return np.array(per, dtype=np.float64)[self.table_of]

    def locate(self, cell: int) -> tuple[str, Coordinates]:
        """The table name and coordinates of a cell, for messages and reports."""
        t = int(self.table_of[cell])
        table = self.tables[t]
        row = table.cells.select(table.coordinates).row(cell - int(self.offsets[t]))
        return table.name, tuple((c, str(v)) for c, v in zip(table.coordinates, row, strict=True))

    def describe(self, cell: int) -> str:
        """``epay-monthly (department=RTA, month=2024-03)``: never a value."""
        name, coordinates = self.locate(cell)
        return f"{name} ({', '.join(f'{c}={v}' for c, v in coordinates)})"

    def with_flags(self, flags: NDArray[np.bool_]) -> dict[str, AuditTable]:
        """Every table with ``suppressed`` set from ``flags``, by name."""
        return {
            t.name: t.with_suppressed(
                pl.Series(SUPPRESSED, flags[self.offsets[i] : self.offsets[i + 1]])
            )
            for i, t in enumerate(self.tables)
        }


def _keys(table: AuditTable, on: Sequence[str]) -> pl.DataFrame:
    """The table's cells placed on ``on`` as strings, restrictions as constant columns."""
    return table.cells.select(
        *(
            (pl.col(c) if c in table.coordinates else pl.lit(table.restriction[c]))
            .cast(pl.String)
            .alias(c)
            for c in on
        )
    )


def _members(
    rel: Relation, left: tuple[int, AuditTable], right: tuple[int, AuditTable]
) -> pl.DataFrame:
    """One row per (group, cell, sign) of a relation; groups numbered 0.. in key order."""
    restriction = {
        c: v for c, v in {**left[1].restriction, **right[1].restriction}.items() if c in rel.on
    }
    sides = []
    for sign, (offset, table) in ((1, left), (-1, right)):
        frame = _keys(table, rel.on).with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64) + offset).alias("_cell"),
            pl.lit(sign, dtype=pl.Int8).alias("_sign"),
        )
        for column, value in sorted(restriction.items()):
            frame = frame.filter(pl.col(column) == value)
        sides.append(frame)
    both = pl.concat(sides)
    covered = [t.covers_until for _, t in (left, right) if t.covers_until is not None]
    if covered:
        both = both.filter(period_end(rel.on) <= min(covered))
    if rel.on:
        # A key only one table has says nothing of the other: a period that one table
        # publishes only once it is complete (a year, a quarter) is not yet in it.
        both = both.filter(pl.col("_sign").n_unique().over(list(rel.on)) == 2)
        group = pl.struct(list(rel.on)).rank("dense").cast(pl.Int64) - 1
    else:
        group = pl.lit(0, dtype=pl.Int64)
    return both.select(group.alias("_group"), "_cell", "_sign")


def period_end(on: Sequence[str]) -> pl.Expr:
    """The last month (``YYYYMM``) of each key's period on ``on`` (keys as text, see
    :func:`_keys`), by its finest time coordinate. Keys without one span every period: they
    end after any month."""
    if "date" in on or "month" in on:
        text = pl.col("date" if "date" in on else "month")
        return text.str.slice(0, 4).cast(pl.Int64) * 100 + text.str.slice(5, 2).cast(pl.Int64)
    if "quarter" in on:
        text = pl.col("quarter")
        return text.str.slice(0, 4).cast(pl.Int64) * 100 + text.str.slice(6, 1).cast(pl.Int64) * 3
    if "year" in on:
        return pl.col("year").cast(pl.Int64) * 100 + 12
    return pl.lit(999_999, dtype=pl.Int64)


def _rank(tables: Sequence[AuditTable], payers: NDArray[np.int64]) -> NDArray[np.int64]:
    """Cost order: fewest payers, then table name (tables are in name order), then the
    position of the cell when its table is sorted by its coordinates."""
    positions = []
    for table in tables:
        order = (
            table.cells.select(table.coordinates)
            .with_row_index("_row")
            .sort(list(table.coordinates), nulls_last=True, maintain_order=True)
            .get_column("_row")
            .to_numpy()
        )
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order), dtype=np.int64)
        positions.append(position)
    table_index = np.repeat(np.arange(len(tables)), [t.cells.height for t in tables])
    within = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    order = np.lexsort((within, table_index, payers))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _published_or(
    tables: Sequence[AuditTable], whole: Callable[[AuditTable], bool]
) -> NDArray[np.bool_]:
    """For every cell: is its table ``whole``, or did an earlier version publish it
    (``PUBLISHED_BEFORE``)?"""
    flags = [
        np.full(t.cells.height, whole(t), dtype=np.bool_)
        | (
            t.cells.get_column(PUBLISHED_BEFORE).fill_null(value=False).to_numpy()
            if PUBLISHED_BEFORE in t.cells.columns
            else False
        )
        for t in tables
    ]
    return np.concatenate(flags) if flags else np.zeros(0, dtype=np.bool_)


def link(tables: Sequence[AuditTable]) -> Linkage:
    """Index every cell of ``tables`` and build the relation groups among them."""
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise DisclosureError(
            f"table names repeat in the release: {sorted(names)}",
            hint="each table is audited under its dataset id",
        )
    for table in tables:
        table.check()
        for quantity, measure in table.quantities.items():
            if table.cells.get_column(measure).null_count():
                raise DisclosureError(
                    f"table {table.name!r} has nulls in {measure!r} ({quantity})",
                    hint="give the audit the true values; suppression nulls them afterwards",
                )
    ordered = tuple(sorted(tables, key=lambda t: t.name))
    position = {t.name: i for i, t in enumerate(ordered)}
    sizes = [t.cells.height for t in ordered]
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    in_cycle = cycle(ordered)
    if in_cycle:
        raise DisclosureError(
            f"tables {list(in_cycle)} cross their coordinates in a cycle: together they "
            "tell a reader more than the pairwise relations the audit checks",
            hint="drop one of them, or publish them with a table whose coordinates contain theirs",
        )
    rels = relations(ordered)

    frames = [pl.DataFrame(schema={"_group": pl.Int64, "_cell": pl.Int64, "_sign": pl.Int8})]
    group_relation: list[int] = []
    for r, rel in enumerate(rels):
        a, b = position[rel.left], position[rel.right]
        members = _members(rel, (int(offsets[a]), ordered[a]), (int(offsets[b]), ordered[b]))
        n = members.get_column("_group").n_unique() if members.height else 0
        frames.append(members.with_columns(pl.col("_group") + len(group_relation)))
        group_relation.extend([r] * n)
    # Sorted by group, so that a group's members are one slice (see Linkage.group_start).
    members = pl.concat(frames).sort("_group", "_cell")
    payers = (
        np.concatenate(
            [t.cells.get_column("payers").fill_null(0).cast(pl.Int64).to_numpy() for t in ordered]
        )
        if ordered
        else np.zeros(0, dtype=np.int64)
    )
    # A cell a reader has from an earlier version is as good as published: never a
    # complement, like a cell of a protected table.
    protected = _published_or(ordered, lambda t: t.protected)
    return Linkage(
        tables=ordered,
        relations=rels,
        offsets=offsets,
        member_group=members.get_column("_group").to_numpy().astype(np.int64),
        member_cell=members.get_column("_cell").to_numpy().astype(np.int64),
        member_sign=members.get_column("_sign").to_numpy().astype(np.int8),
        group_relation=np.asarray(group_relation, dtype=np.int64),
        payers=payers.astype(np.int64),
        protected=protected,
        rank=_rank(ordered, payers.astype(np.int64)),
    )
