"""What the portal reads from the published data, through the API's own query path.

Every figure on a page comes from the Library (which version is current), the query
compiler (parameterised SQL over the catalog's columns) and the Engine (DuckDB within its
deadline): the same path as ``/api/v1``, so a page can never show what the API would refuse,
and no text from a request becomes SQL. The functions here block on DuckDB; the routes that
call them run in the thread pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bawaba.catalog.model import Dataset, Field
from bawaba.portal.charts import Point
from bawaba.serving.library import Published
from bawaba.serving.query import (
    Aggregate,
    Measure,
    Rows,
    Sort,
    compile_aggregate,
    compile_count,
    compile_rows,
)
from bawaba.serving.state import Services

HEADLINE_DATASET = "epay-annual"
"""The dataset behind the home page's figures: collections and payments per year."""
PAGE_ROWS = 20
MAX_CHART_POINTS = 1_000


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


# ---------------------------------------------------------------------------------------
# Home: headline figures
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    dataset: Dataset
    year: int
    amount_aed: float
    transactions: int
    previous_year: int | None
    amount_growth_pct: float | None


def headline(state: Services) -> Headline | None:
    """The latest year's collections and payments, and the change on the year before;
    None until the headline dataset is published."""
    library = state.library
    if library.current_version(HEADLINE_DATASET) is None:
        return None
    published = library.resolve(HEADLINE_DATASET)
    dataset = published.dataset
    query = Aggregate(
        group_by=("year",),
        measures=(Measure("sum", "amount_aed"), Measure("sum", "transactions")),
        order=(Sort("year", descending=True),),
    )
    _, rows = state.engine.rows(
        published.path, compile_aggregate(dataset, query, limit=2), "portal-headline"
    )
    if not rows:
        return None
    year, amount, transactions = rows[0]
    assert isinstance(year, int)
    previous_year: int | None = None
    growth = None
    if len(rows) > 1:
        before, before_amount = rows[1][0], _number(rows[1][1])
        assert isinstance(before, int)
        previous_year = before
        if before_amount:
            growth = ((_number(amount) or 0.0) / before_amount - 1) * 100
    return Headline(
        dataset=dataset,
        year=year,
        amount_aed=_number(amount) or 0.0,
        transactions=int(_number(transactions) or 0),
        previous_year=previous_year,
        amount_growth_pct=growth,
    )


# ---------------------------------------------------------------------------------------
# Dataset page: the chart
# ---------------------------------------------------------------------------------------


def main_measure(dataset: Dataset) -> Field | None:
    """The measure a reader looks at first: an index built from the others, else money,
    else a rate, else the first count."""
    measures = dataset.by_role("measure")
    if dataset.weights:
        index = [f for f in measures if f.name not in dataset.weights and not f.additive]
        if index:
            return index[0]
    preferences: tuple[Callable[[Field], bool], ...] = (
        lambda f: f.additive and f.unit == "AED",
        lambda f: f.unit == "percent",
        lambda f: f.additive,
    )
    for wanted in preferences:
        found = [f for f in measures if wanted(f)]
        if found:
            return found[0]
    return measures[0] if measures else None


Statistic = Literal["sum", "avg", "count"]


@dataclass(frozen=True)
class ChartSpec:
    axis: Field
    """The time field, or for a dataset without one, its first dimension."""
    measure: Field | None
    """None: the chart counts rows."""
    statistic: Statistic

    @property
    def over_time(self) -> bool:
        return self.axis.role == "time"


def chart_spec(dataset: Dataset) -> ChartSpec | None:
    times = dataset.by_role("time")
    axis = times[0] if times else next(iter(dataset.by_role("dimension")), None)
    if axis is None:
        return None
    measure = main_measure(dataset)
    if measure is None:
        return ChartSpec(axis, None, "count")
    return ChartSpec(axis, measure, "sum" if measure.additive else "avg")


def chart_points(state: Services, published: Published, spec: ChartSpec) -> list[Point]:
    """The measure summed (or averaged) over every other coordinate, per axis value."""
    if spec.measure is None:
        measure = Measure("count")
    else:
        measure = Measure(spec.statistic, spec.measure.name)
    order = (Sort(spec.axis.name),) if spec.over_time else (Sort(measure.name, descending=True),)
    query = Aggregate(group_by=(spec.axis.name,), measures=(measure,), order=order)
    compiled = compile_aggregate(
        published.dataset, query, limit=MAX_CHART_POINTS, plain_numbers=True
    )
    _, rows = state.engine.rows(published.path, compiled, "portal-chart")
    return [Point(str(axis), _number(value)) for axis, value in rows]


# ---------------------------------------------------------------------------------------
# Dataset page: the preview table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    total: int
    page: int
    pages: int
    order: tuple[Sort, ...]

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_ROWS + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_ROWS + len(self.rows)


def preview(state: Services, published: Published, order: tuple[Sort, ...], page: int) -> Preview:
    """One page of rows in ``order`` (validated by the caller with ``parse_order``); a page
    past the end shows the last one."""
    dataset = published.dataset
    total = state.engine.scalar(published.path, compile_count(Rows()), "portal-count")
    assert isinstance(total, int)
    pages = max(1, math.ceil(total / PAGE_ROWS))
    page = min(max(page, 1), pages)
    compiled = compile_rows(
        dataset, Rows(order=order), limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS
    )
    columns, rows = state.engine.rows(published.path, compiled, "portal-preview")
    return Preview(tuple(columns), rows, total, page, pages, order)
