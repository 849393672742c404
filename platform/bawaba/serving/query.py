"""The query compiler: request parameters in, parameterised DuckDB SQL out.

SQL text is assembled only from three things: fixed keywords, the column names that
catalog.yaml declares for the dataset (quoted, and checked against the catalog before they
get here), and ``?`` placeholders. Every value a caller sends, the Parquet path included, is
bound as a parameter. A name the catalog does not declare, an operator or a measure not in
the lists below, or a value of the wrong type is refused with a ``BadParameter`` naming what
is valid; nothing a caller sends can reach the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from bawaba.catalog.model import Dataset, Field
from bawaba.serving.problems import BadParameter

OPERATORS: dict[str, str] = {
    "eq": "=",
    "ne": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "IN",
    "contains": "contains",
}
"""Filter operators, written ``?col__op=value`` (``?col=value`` is ``eq``)."""

_ORDERED = ("gt", "gte", "lt", "lte")
_ALLOWED: dict[str, frozenset[str]] = {
    "string": frozenset(OPERATORS),
    "integer": frozenset(OPERATORS) - {"contains"},
    "decimal": frozenset(OPERATORS) - {"contains"},
    "date": frozenset(OPERATORS) - {"contains"},
    "boolean": frozenset({"eq", "ne", "in"}),
}
MEASURES = ("count", "sum", "avg", "min", "max")
"""Aggregate functions: ``count`` (rows) or ``count(col)`` (rows where col is set), and
``sum``/``avg`` of a number, ``min``/``max`` of a number, a date or a text."""
_NUMERIC = frozenset({"integer", "decimal"})
MAX_IN_VALUES = 200
MAX_VALUE_CHARS = 500
# The cost bound of one query (every path: records, aggregates, downloads, changes, CKAN).
# A text match scans every row's text; 2,450 of them in one request took 0.8 s on a
# 2,400-row version and stalled every other request of the worker (issue 14).
MAX_FILTERS = 20
MAX_FILTER_VALUES = 400
MAX_TEXT_MATCHES = 250
"""``contains`` filters, and search words times the columns they are looked for in."""
QUICK_VALUES = 20
QUICK_TEXT_MATCHES = 2
"""A query within these is cheap enough to answer on the event loop from a small copy in
memory (``Engine.quick``); a costlier one is sent to a thread like any other."""

RECORDS_PARAMETERS = frozenset({"select", "order", "limit", "cursor", "version"})
AGGREGATE_PARAMETERS = frozenset({"group_by", "measures", "order", "limit", "version"})
DOWNLOAD_PARAMETERS = frozenset({"select", "order", "version"})

_INTEGER = re.compile(r"-?\d{1,18}")
_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,9})?")
_MEASURE = re.compile(r"(?P<function>[a-z]+)(\((?P<column>[a-z][a-z0-9_]*|\*)\))?")


@dataclass(frozen=True)
class Filter:
    column: str
    operator: str
    values: tuple[object, ...]
    """One value; several for ``in``."""


@dataclass(frozen=True)
class Sort:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class Measure:
    function: str
    column: str | None = None
    """None for ``count`` of rows."""

    @property
    def name(self) -> str:
        return self.function if self.column is None else f"{self.function}_{self.column}"


@dataclass(frozen=True)
class Search:
    """``word`` in at least one of ``columns``, read as text and ignoring case: one word of a
    full-text search (CKAN's ``datastore_search?q=``)."""

    columns: tuple[str, ...]
    word: str


@dataclass(frozen=True)
class Cost:
    """What makes a query's WHERE clause slow, checked against the bound."""

    filters: int
    values: int
    text_matches: int

    @classmethod
    def of(cls, filters: Sequence[Filter], search: Sequence[Search] = ()) -> Cost:
        return cls(
            filters=len(filters),
            values=sum(len(f.values) for f in filters),
            text_matches=sum(f.operator == "contains" for f in filters)
            + sum(len(s.columns) for s in search),
        )

    def check(self) -> None:
        """A ``BadParameter`` naming the bound the query passes, if it passes one."""
        for what, given, most in (
            ("filters", self.filters, MAX_FILTERS),
            ("filter values in all", self.values, MAX_FILTER_VALUES),
            (
                "text matches (contains filters, search words x columns)",
                self.text_matches,
                MAX_TEXT_MATCHES,
            ),
        ):
            if given > most:
                raise BadParameter(
                    f"the query is too costly: {given:,} {what}, and the limit is {most:,}",
                    hint=f"a query takes at most {MAX_FILTERS} filters, {MAX_FILTER_VALUES:,} "
                    f"filter values in all and {MAX_TEXT_MATCHES} text matches; narrow it, "
                    "or fetch the download and query it locally",
                    slug="query-too-costly",
                )

    @property
    def quick(self) -> bool:
        return self.values <= QUICK_VALUES and self.text_matches <= QUICK_TEXT_MATCHES


@dataclass(frozen=True)
class Rows:
    """Which rows and columns of a dataset, in which order."""

    filters: tuple[Filter, ...] = ()
    columns: tuple[str, ...] = ()
    order: tuple[Sort, ...] = ()
    search: tuple[Search, ...] = ()
    """Every word must match (in addition to the filters)."""

    def __post_init__(self) -> None:
        self.cost.check()

    @property
    def cost(self) -> Cost:
        return Cost.of(self.filters, self.search)


@dataclass(frozen=True)
class Aggregate:
    filters: tuple[Filter, ...] = ()
    group_by: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = (Measure("count"),)
    order: tuple[Sort, ...] = ()

    def __post_init__(self) -> None:
        self.cost.check()

    @property
    def cost(self) -> Cost:
        return Cost.of(self.filters)


PARQUET = "read_parquet(?)"
"""Where a compiled query reads: a Parquet file, bound as the first parameter."""


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: tuple[object, ...]
    """After the file's path, which the engine binds first."""

    @property
    def reads_one_file(self) -> bool:
        return self.sql.count(PARQUET) == 1

    def over_table(self, table: str) -> str:
        """The same query over the table ``table`` instead of its one file (bind
        ``params`` alone). The name is one the engine made, never request text."""
        if not (self.reads_one_file and table.isidentifier()):
            raise ValueError(f"cannot read {table!r} instead of the file in: {self.sql}")
        return self.sql.replace(PARQUET, f'"{table}"')


# ---------------------------------------------------------------------------------------
# Parsing request parameters
# ---------------------------------------------------------------------------------------


def _valid(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _column(dataset: Dataset, name: str, parameter: str) -> Field:
    try:
        return dataset.field(name)
    except KeyError:
        raise BadParameter(
            f"{parameter}: {dataset.id!r} has no column {name!r}",
            hint=f"its columns are: {', '.join(dataset.columns)}",
        ) from None


def coerce(field: Field, raw: str, parameter: str) -> object:
    """``raw`` as a value of ``field``'s type, or a BadParameter saying what it should be."""
    if len(raw) > MAX_VALUE_CHARS:
        raise BadParameter(
            f"{parameter}: the value is {len(raw)} characters long",
            hint=f"values are at most {MAX_VALUE_CHARS} characters",
        )
    kind = field.type
    if kind == "string":
        return raw
    if kind == "integer" and _INTEGER.fullmatch(raw):
        return int(raw)
    if kind == "decimal" and _DECIMAL.fullmatch(raw):
        try:
            return Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            pass
    if kind == "boolean" and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    if kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    example = {
        "integer": "a whole number such as 2013",
        "decimal": "a number such as 1250.75",
        "boolean": "true or false",
        "date": "a date such as 2013-03-31",
    }[kind]
    raise BadParameter(
        f"{parameter}: {raw!r} is not a valid value for {field.name!r} ({kind})",
        hint=f"give {example}",
    )


def parse_filters(
    dataset: Dataset, items: Iterable[tuple[str, str]], reserved: frozenset[str]
) -> tuple[Filter, ...]:
    """Every ``col=value`` and ``col__op=value`` among ``items``; the other parameters of
    the path (``reserved``) are skipped, anything else is refused."""
    given = [(name, raw) for name, raw in items if name not in reserved]
    Cost(len(given), 0, 0).check()  # before any is read
    filters: list[Filter] = []
    for name, raw in given:
        column, _, operator = name.partition("__")
        operator = operator or "eq"
        if column not in dataset.columns:
            raise BadParameter(
                f"unknown parameter {name!r}: {dataset.id!r} has no column {column!r}",
                hint=f"filter with col=value or col__op=value on: {', '.join(dataset.columns)}; "
                f"the other parameters here are: {_valid(reserved)}",
            )
        field = dataset.field(column)
        if operator not in OPERATORS:
            raise BadParameter(
                f"unknown operator {operator!r} in {name!r}",
                hint=f"the operators are: {', '.join(OPERATORS)}",
            )
        if operator not in _ALLOWED[field.type]:
            raise BadParameter(
                f"operator {operator!r} does not apply to {column!r} ({field.type})",
                hint=f"for a {field.type} the operators are: "
                + ", ".join(o for o in OPERATORS if o in _ALLOWED[field.type]),
            )
        raws = raw.split(",") if operator == "in" else [raw]
        if len(raws) > MAX_IN_VALUES:
            raise BadParameter(
                f"{name}: {len(raws)} values", hint=f"`in` takes at most {MAX_IN_VALUES} values"
            )
        values = tuple(coerce(field, value, name) for value in raws)
        filters.append(Filter(column, operator, values))
    return tuple(filters)


MAX_SEARCH_WORDS = 20


def parse_search(
    dataset: Dataset, text: str, columns: Sequence[str] | None = None
) -> tuple[Search, ...]:
    """The words of ``text``, each to be found in one of ``columns`` (default: all)."""
    columns = tuple(columns or dataset.columns)
    for name in columns:
        _column(dataset, name, "q")
    words = text.split()
    if len(words) > MAX_SEARCH_WORDS:
        raise BadParameter(
            f"q: {len(words)} words", hint=f"search for at most {MAX_SEARCH_WORDS} words"
        )
    for word in words:
        if len(word) > MAX_VALUE_CHARS:
            raise BadParameter(
                f"q: a word is {len(word)} characters long",
                hint=f"words are at most {MAX_VALUE_CHARS} characters",
            )
    return tuple(Search(columns, word) for word in words)


def _names(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def parse_columns(dataset: Dataset, raw: str | None) -> tuple[str, ...]:
    names = _names(raw)
    for name in names:
        _column(dataset, name, "select")
    return tuple(dict.fromkeys(names)) or dataset.columns


def parse_order(
    raw: str | None, allowed: Sequence[str], parameter: str = "order"
) -> tuple[Sort, ...]:
    sorts = []
    for part in _names(raw):
        descending = part.startswith("-")
        name = part.removeprefix("-")
        if name not in allowed:
            raise BadParameter(
                f"{parameter}: cannot order by {name!r}",
                hint=f"order by any of: {', '.join(allowed)} (prefix - for descending)",
            )
        sorts.append(Sort(name, descending))
    return tuple(sorts)


def parse_measure(dataset: Dataset, raw: str) -> Measure:
    match = _MEASURE.fullmatch(raw)
    if not match or match["function"] not in MEASURES:
        raise BadParameter(
            f"measures: {raw!r} is not a measure",
            hint="write count, or function(column) with function one of: " + ", ".join(MEASURES),
        )
    function, column = match["function"], match["column"]
    if column in (None, "*"):
        if function != "count":
            raise BadParameter(
                f"measures: {function} needs a column", hint=f"e.g. {function}(amount_aed)"
            )
        return Measure("count")
    field = _column(dataset, column, "measures")
    if function in ("sum", "avg") and field.type not in _NUMERIC:
        numeric = [f.name for f in dataset.fields if f.type in _NUMERIC]
        raise BadParameter(
            f"measures: {function} needs a number, and {column!r} is a {field.type}",
            hint=f"the numeric columns are: {', '.join(numeric)}",
        )
    if function in ("min", "max") and field.type == "boolean":
        raise BadParameter(
            f"measures: {function} does not apply to {column!r} (boolean)",
            hint="count the rows instead, filtered on the flag",
        )
    return Measure(function, column)


def parse_aggregate(
    dataset: Dataset,
    items: Sequence[tuple[str, str]],
    *,
    group_by: str | None,
    measures: str | None,
    order: str | None,
) -> Aggregate:
    groups = _names(group_by)
    for name in groups:
        _column(dataset, name, "group_by")
    chosen = tuple(dict.fromkeys(parse_measure(dataset, m) for m in _names(measures))) or (
        Measure("count"),
    )
    outputs = [*dict.fromkeys(groups), *(m.name for m in chosen)]
    if len(set(outputs)) != len(outputs):
        raise BadParameter(
            "group_by and measures name the same output column twice",
            hint="group by a column or measure it, not both",
        )
    return Aggregate(
        filters=parse_filters(dataset, items, AGGREGATE_PARAMETERS),
        group_by=tuple(dict.fromkeys(groups)),
        measures=chosen,
        order=parse_order(order, outputs),
    )


# ---------------------------------------------------------------------------------------
# Compiling to SQL
# ---------------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    # Names come from catalog.yaml, which allows only [a-z][a-z0-9_]*; the check makes a
    # catalog mistake fail loudly instead of becoming SQL.
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"not a catalog column name: {name!r}")
    return f'"{name}"'


def _where(filters: Sequence[Filter], search: Sequence[Search] = ()) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for s in search:
        matches = [f"contains(lower(CAST({_quoted(c)} AS VARCHAR)), lower(?))" for c in s.columns]
        clauses.append(f"({' OR '.join(matches)})")
        params.extend(s.word for _ in s.columns)
    for f in filters:
        column = _quoted(f.column)
        if f.operator == "in":
            clauses.append(f"{column} IN ({', '.join('?' for _ in f.values)})")
        elif f.operator == "contains":
            clauses.append(f"contains(lower({column}), lower(?))")
        else:
            clauses.append(f"{column} {OPERATORS[f.operator]} ?")
        params.extend(f.values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order_by(order: Sequence[Sort], tiebreak: Sequence[str]) -> str:
    """``order`` then ``tiebreak``: a total order, so pages never overlap or skip rows."""
    named = {s.column for s in order}
    sorts = [*order, *(Sort(c) for c in tiebreak if c not in named)]
    if not sorts:
        return ""
    return " ORDER BY " + ", ".join(
        f"{_quoted(s.column)} {'DESC' if s.descending else 'ASC'} NULLS LAST" for s in sorts
    )


def _output(dataset: Dataset, name: str, plain_numbers: bool) -> str:
    column = _quoted(name)
    if plain_numbers and dataset.field(name).type == "decimal":
        return f"CAST({column} AS DOUBLE) AS {column}"
    return column


def row_key(dataset: Dataset) -> tuple[str, ...]:
    """The columns that tell rows apart: the sort key, then the other coordinates."""
    coordinates = [f.name for f in dataset.by_role("time", "dimension", "attribute")]
    return tuple(dict.fromkeys([*dataset.sort_by, *coordinates]))


def compile_rows(
    dataset: Dataset,
    rows: Rows,
    *,
    limit: int | None = None,
    offset: int = 0,
    plain_numbers: bool = False,
) -> Compiled:
    """The rows, from a Parquet file bound as the first parameter. ``plain_numbers`` casts
    decimals to doubles, for JSON."""
    where, params = _where(rows.filters, rows.search)
    select = ", ".join(_output(dataset, c, plain_numbers) for c in rows.columns or dataset.columns)
    sql = f"SELECT {select} FROM {PARQUET}{where}{_order_by(rows.order, row_key(dataset))}"
    tail: list[object] = []
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        tail = [limit, offset]
    return Compiled(sql, (*params, *tail))


def compile_count(rows: Rows) -> Compiled:
    where, params = _where(rows.filters, rows.search)
    return Compiled(f"SELECT count(*) FROM {PARQUET}{where}", tuple(params))


def _measure(dataset: Dataset, measure: Measure, plain_numbers: bool) -> str:
    alias = _quoted(measure.name)
    if measure.column is None:
        return f"count(*) AS {alias}"
    column = _quoted(measure.column)
    kind = dataset.field(measure.column).type
    expression = f"{measure.function}({column})"
    if measure.function == "sum" and kind == "integer":
        expression = f"CAST({expression} AS BIGINT)"  # DuckDB sums to a 128-bit integer
    elif measure.function == "avg" or (plain_numbers and kind == "decimal"):
        expression = f"CAST({expression} AS DOUBLE)"
    return f"{expression} AS {alias}"


def compile_aggregate(
    dataset: Dataset, query: Aggregate, *, limit: int | None = None, plain_numbers: bool = False
) -> Compiled:
    where, params = _where(query.filters)
    groups = [_quoted(g) for g in query.group_by]
    select = ", ".join([*groups, *(_measure(dataset, m, plain_numbers) for m in query.measures)])
    sql = f"SELECT {select} FROM {PARQUET}{where}"
    if groups:
        sql += " GROUP BY " + ", ".join(groups)
    sql += _order_by(query.order, query.group_by)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return Compiled(sql, tuple(params))


# ---------------------------------------------------------------------------------------
# Changes between two versions
# ---------------------------------------------------------------------------------------


CHANGE = "change"
"""The column every changes answer starts with: what happened to the row's cell."""
CHANGE_KINDS = ("added", "revised", "removed")
"""``added``: a key ``since`` did not have; ``revised``: a key it had, with other values;
``removed``: a key it had and the current version has not (only the key columns are set)."""


def _changed_source(dataset: Dataset) -> str:
    """The cells that differ between the current file (bound first) and the earlier file
    (bound second), matched on ``row_key``: each with its ``change`` and its current values
    (a removed cell: its key, the rest empty). Both sides name the catalog's columns, so a
    column order that differs between versions does not matter; nulls compare equal."""
    key = row_key(dataset)
    named = ", ".join(_quoted(c) for c in dataset.columns)
    side = f"(SELECT {named}, true AS _present FROM {PARQUET})"
    kind = (
        "CASE WHEN o._present IS NULL THEN 'added' "
        "WHEN n._present IS NULL THEN 'removed' ELSE 'revised' END"
    )
    columns = [
        f"coalesce(n.{_quoted(c)}, o.{_quoted(c)}) AS {_quoted(c)}"
        if c in key
        else f"n.{_quoted(c)} AS {_quoted(c)}"
        for c in dataset.columns
    ]
    on = " AND ".join(f"n.{_quoted(c)} IS NOT DISTINCT FROM o.{_quoted(c)}" for c in key)
    differs = " OR ".join(
        [
            "n._present IS NULL",
            "o._present IS NULL",
            *(
                f"n.{_quoted(c)} IS DISTINCT FROM o.{_quoted(c)}"
                for c in dataset.columns
                if c not in key
            ),
        ]
    )
    return (
        f"(SELECT {kind} AS {_quoted(CHANGE)}, {', '.join(columns)} "
        f"FROM {side} AS n FULL OUTER JOIN {side} AS o ON {on or 'true'} WHERE {differs})"
    )


def compile_changes(
    dataset: Dataset,
    rows: Rows,
    since: str,
    *,
    limit: int | None = None,
    offset: int = 0,
    plain_numbers: bool = False,
) -> Compiled:
    """The cells changed since the version whose Parquet file is ``since`` (a path, bound
    as a parameter like every other value), filtered, selected and ordered like
    ``compile_rows``, each led by its ``change`` (``CHANGE_KINDS``)."""
    where, params = _where(rows.filters, rows.search)
    chosen = rows.columns or dataset.columns
    select = ", ".join([_quoted(CHANGE), *(_output(dataset, c, plain_numbers) for c in chosen)])
    sql = (
        f"SELECT {select} FROM {_changed_source(dataset)}{where}"
        f"{_order_by(rows.order, row_key(dataset))}"
    )
    tail: list[object] = []
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        tail = [limit, offset]
    return Compiled(sql, (since, *params, *tail))


def compile_changes_count(dataset: Dataset, rows: Rows, since: str) -> Compiled:
    where, params = _where(rows.filters, rows.search)
    return Compiled(f"SELECT count(*) FROM {_changed_source(dataset)}{where}", (since, *params))
