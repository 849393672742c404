"""A period's rows in parts that no cell spans: groups of departments.

Every cell of every dataset belongs to one department (its ``department`` key, or that of
its service), so a cell's distinct payers, its largest contributors and its rows all lie in
one department's rows. A builder run on a group of departments' rows gives those
departments' cells exactly as a run on all rows does; the cells of the groups, stacked and
sorted, are the whole table. What a builder holds is the state of its group-by (one entry
per cell and payer), so building a part at a time bounds it by the part, not by the period:
a part is one department, or several small ones together, up to a number of rows
(``BAWABA_PUBLISH_PART_ROWS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


def department_groups(counts: pl.DataFrame, limit: int) -> list[list[str]]:
    """The departments of ``counts`` (rows per part and month, ``periods.COUNTS``) in
    groups of at most ``limit`` rows (a department larger than that alone), largest first:
    the same groups for the same rows."""
    counts = (
        counts.group_by("department")
        .agg(pl.col("rows").sum().alias("len"))
        .sort(["len", "department"], descending=[True, False])
    )
    groups: list[list[str]] = []
    sizes: list[int] = []
    for department, size in counts.iter_rows():
        if department is None:
            # The ingest writes each row's department from its pipeline: none is missing.
            continue
        fits = next((i for i, held in enumerate(sizes) if held + size <= limit), None)
        if fits is None:
            groups.append([department])
            sizes.append(size)
        else:
            groups[fits].append(department)
            sizes[fits] += size
    return groups


@dataclass(frozen=True)
class Part:
    departments: tuple[str, ...] | None
    """The departments of the part; None for all of them."""

    def of(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame``'s rows (with ``department`` as text) of this part's departments."""
        if self.departments is None:
            return frame
        return frame.filter(pl.col("department").is_in(self.departments))


def parts(counts: pl.DataFrame, limit: int) -> list[Part]:
    """The parts to build the rows that ``counts`` count in: a group of departments each,
    or one part of them all when there is no more than one group."""
    groups = department_groups(counts, limit)
    if len(groups) <= 1:
        return [Part(None)]
    return [Part(tuple(group)) for group in groups]
