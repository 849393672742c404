"""The query compiler's contract, by property.

1. Differential: for generated filters, select, order and aggregates, the API answers exactly
   what DuckDB answers for the same query written by hand over the same Parquet, whether
   the server reads its copy of the file in memory or the file itself.
2. No input reaches SQL text: whatever a caller sends, the compiled SQL is made only of
   keywords, the dataset's own column names and placeholders; a hostile value is refused or
   matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bawaba.catalog.load import load_catalog
from bawaba.catalog.model import Dataset
from bawaba.serving.problems import BadParameter
from bawaba.serving.query import (
    RECORDS_PARAMETERS,
    Rows,
    compile_aggregate,
    compile_count,
    compile_rows,
    parse_aggregate,
    parse_columns,
    parse_filters,
    parse_order,
)
from conftest import Served, api_settings, serve_release

API = "/api/v1/datasets"
DATASETS = ("epay-monthly", "eservice-catalog", "epay-annual")
CATALOG = load_catalog(__import__("conftest").ROOT / "catalog.yaml")
FIXTURE = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

SQL_OPERATORS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@pytest.fixture(scope="module", params=[256, 0], ids=["copies in memory", "parquet files"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The conftest release, served with and without copies of the versions in memory."""
    from releases import write_release

    settings = api_settings(tmp_path_factory.mktemp("served"), resident_mb=request.param)
    for seed in (1, 2):
        write_release(settings.datasets_dir, CATALOG, seed=seed)
    with serve_release(settings) as server:
        yield server


def key_of(dataset: Dataset) -> list[str]:
    """The columns that identify a row: the catalog's sort key (one row per value)."""
    return list(dataset.sort_by)


def values_in(served: Served, dataset: str, column: str) -> list[Any]:
    path = served.settings.datasets_dir / dataset / "v2" / "data.parquet"
    found = duckdb.execute(
        f'SELECT DISTINCT "{column}" FROM read_parquet(?) WHERE "{column}" IS NOT NULL',
        [str(path)],
    ).fetchall()
    return sorted(v for (v,) in found)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@st.composite
def records_requests(
    draw: st.DrawFn, served: Served
) -> tuple[Dataset, dict[str, str], list[tuple[str, str, list[Any]]]]:
    dataset = CATALOG.dataset(draw(st.sampled_from(DATASETS)))
    params: dict[str, str] = {}
    filters: list[tuple[str, str, list[Any]]] = []
    for field in draw(st.lists(st.sampled_from(dataset.fields), max_size=3, unique=True)):
        known = values_in(served, dataset.id, field.name)
        if not known:
            continue
        ops = ["eq", "ne", "in"] if field.type == "boolean" else [*SQL_OPERATORS, "in"]
        if field.type == "string":
            ops.append("contains")
        op = draw(st.sampled_from(ops))
        if op == "in":
            # `in` takes comma-separated values, so a value holding a comma needs `eq`.
            listable = [v for v in known if "," not in as_text(v)] or known[:0]
            if not listable:
                continue
            chosen = draw(st.lists(st.sampled_from(listable), min_size=1, max_size=4))
        elif op == "contains":
            word = as_text(draw(st.sampled_from(known)))
            start = draw(st.integers(0, max(0, len(word) - 1)))
            chosen = [word[start : start + draw(st.integers(1, 4))].upper()]
        else:
            chosen = [draw(st.sampled_from(known))]
        name = field.name if op == "eq" else f"{field.name}__{op}"
        params[name] = ",".join(as_text(v) for v in chosen)
        filters.append((field.name, op, chosen))
    return dataset, params, filters


def where_clause(filters: list[tuple[str, str, list[Any]]]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, op, values in filters:
        if op == "in":
            clauses.append(f'"{column}" IN ({", ".join("?" * len(values))})')
            params.extend(values)
        elif op == "contains":
            clauses.append(f'strpos(lower("{column}"), lower(?)) > 0')
            params.append(values[0])
        else:
            clauses.append(f'"{column}" {SQL_OPERATORS[op]} ?')
            params.append(values[0])
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@FIXTURE
@given(data=st.data())
def test_records_match_duckdb(served: Served, data: st.DataObject) -> None:
    dataset, params, filters = data.draw(records_requests(served))
    columns = data.draw(st.lists(st.sampled_from(dataset.columns), min_size=1, unique=True))
    order = data.draw(st.lists(st.sampled_from(dataset.columns), max_size=2, unique=True))
    descending = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    limit = data.draw(st.integers(1, 40))
    params |= {"select": ",".join(columns), "limit": str(limit)}
    if order:
        params["order"] = ",".join(
            ("-" if d else "") + c for c, d in zip(order, descending, strict=True)
        )
    with served.client() as client:
        answer = client.get(f"{API}/{dataset.id}/records", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()

    where, values = where_clause(filters)
    sorts = [
        f'"{c}" {"DESC" if d else "ASC"} NULLS LAST' for c, d in zip(order, descending, strict=True)
    ]
    sorts += [f'"{c}" ASC' for c in key_of(dataset) if c not in order]
    path = str(served.settings.datasets_dir / dataset.id / "v2" / "data.parquet")
    select = ", ".join(f'"{c}"' for c in columns)
    expected = duckdb.execute(
        f"SELECT {select} FROM read_parquet(?){where} ORDER BY {', '.join(sorts)} LIMIT {limit}",
        [path, *values],
    ).fetchall()
    total = duckdb.execute(
        f"SELECT count(*) FROM read_parquet(?){where}", [path, *values]
    ).fetchone()
    assert body["columns"] == columns
    assert [tuple(row.values()) for row in body["rows"]] == [
        tuple(plain(v) for v in row) for row in expected
    ]
    assert total is not None
    assert body["total"] == total[0]


@FIXTURE
@given(data=st.data())
def test_aggregates_match_duckdb(served: Served, data: st.DataObject) -> None:
    dataset, params, filters = data.draw(records_requests(served))
    dimensions = [f.name for f in dataset.by_role("time", "dimension")]
    groups = data.draw(st.lists(st.sampled_from(dimensions), max_size=2, unique=True))
    numeric = [f.name for f in dataset.fields if f.type in ("integer", "decimal")]
    measure_texts = (
        ["count"]
        + [f"{fn}({c})" for c in numeric for fn in ("sum", "avg", "min", "max")]
        + [f"max({d})" for d in dimensions]
    )
    measures = data.draw(
        st.lists(st.sampled_from(measure_texts), min_size=1, max_size=3, unique=True)
    )
    params |= {"measures": ",".join(measures)}
    if groups:
        params["group_by"] = ",".join(groups)
    with served.client() as client:
        answer = client.get(f"{API}/{dataset.id}/aggregate", params=params)
    assert answer.status_code == 200, answer.text

    where, values = where_clause(filters)
    sql_measures = ["count(*)" if m == "count" else m for m in measures]
    select = ", ".join([*(f'"{g}"' for g in groups), *sql_measures])
    group = f" GROUP BY {', '.join(groups)}" if groups else ""
    path = str(served.settings.datasets_dir / dataset.id / "v2" / "data.parquet")
    expected = duckdb.execute(
        f"SELECT {select} FROM read_parquet(?){where}{group}", [path, *values]
    ).fetchall()
    got = [tuple(row.values()) for row in answer.json()["rows"]]
    assert len(got) == len(expected)
    for mine, theirs in zip(
        sorted(got, key=repr),
        sorted(expected, key=lambda r: repr(tuple(plain(v) for v in r))),
        strict=True,
    ):
        for a, b in zip(mine, theirs, strict=True):
            if isinstance(b, (float, Decimal)) and b is not None:
                assert a == pytest.approx(float(b), rel=1e-9)
            else:
                assert a == b


# --- nothing a caller sends reaches SQL text -------------------------------------------

HOSTILE = st.sampled_from(
    [
        "'; DROP TABLE x; --",
        '" OR 1=1 --',
        "RTA' OR '1'='1",
        "1; COPY (SELECT 1) TO '/tmp/pwned.csv'",
        "read_csv('/etc/passwd')",
        'x") UNION SELECT * FROM duckdb_settings() --',
        "$1",
        "?",
        "\x00",
        "٣٤٥",
    ]
)
TEXT = st.one_of(HOSTILE, st.text(max_size=40))
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "IN",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "LAST",
    "LIMIT",
    "OFFSET",
    "GROUP",
    "AS",
    "CAST",
    "DOUBLE",
    "BIGINT",
    "read_parquet",
    "contains",
    "lower",
    "count",
    "sum",
    "avg",
    "min",
    "max",
}
TOKEN = re.compile(
    r'\s*("(?P<name>[a-z][a-z0-9_]*)"|(?P<word>[A-Za-z_]+)|(?P<mark>\?|\*|[(),=<>]+))'
)


def only_safe_tokens(sql: str, allowed_names: set[str]) -> None:
    position = 0
    while position < len(sql):
        match = TOKEN.match(sql, position)
        assert match, f"unexpected text at {sql[position:]!r}"
        if match["name"]:
            assert match["name"] in allowed_names, match["name"]
        elif match["word"]:
            assert match["word"] in KEYWORDS, match["word"]
        position = match.end()


@given(
    dataset_id=st.sampled_from([d.id for d in CATALOG.datasets]),
    pairs=st.lists(
        st.tuples(
            st.one_of(
                TEXT, st.sampled_from(["department", "month__in", "year__gte", "channel__contains"])
            ),
            TEXT,
        ),
        max_size=4,
    ),
    select=st.one_of(st.none(), TEXT),
    order=st.one_of(st.none(), TEXT),
    group_by=st.one_of(st.none(), TEXT),
    measures=st.one_of(st.none(), TEXT, st.sampled_from(["sum(amount_aed)", "count(x'--)"])),
)
def test_compiled_sql_holds_only_keywords_catalog_names_and_placeholders(
    dataset_id: str,
    pairs: list[tuple[str, str]],
    select: str | None,
    order: str | None,
    group_by: str | None,
    measures: str | None,
) -> None:
    dataset = CATALOG.dataset(dataset_id)
    try:
        rows = Rows(
            filters=parse_filters(dataset, pairs, RECORDS_PARAMETERS),
            columns=parse_columns(dataset, select),
            order=parse_order(order, dataset.columns),
        )
        compiled = [
            compile_rows(dataset, rows, limit=10, offset=0, plain_numbers=True),
            compile_count(rows),
        ]
    except BadParameter:
        compiled = []
    try:
        aggregate = parse_aggregate(
            dataset, pairs, group_by=group_by, measures=measures, order=order
        )
        compiled.append(compile_aggregate(dataset, aggregate, limit=10))
        names = set(dataset.columns) | {m.name for m in aggregate.measures}
    except BadParameter:
        names = set(dataset.columns)
    for query in compiled:
        only_safe_tokens(query.sql, names)
        assert query.sql.count("?") == len(query.params) + 1  # +1: the Parquet path


@FIXTURE
@given(
    value=TEXT,
    column=st.sampled_from(["department", "channel", "month"]),
    op=st.sampled_from(["", "__ne", "__in", "__contains", "__gte"]),
)
def test_hostile_values_are_refused_or_match_nothing(
    served: Served, value: str, column: str, op: str
) -> None:
    with served.client() as client:
        answer = client.get(
            f"{API}/epay-monthly/records", params={f"{column}{op}": value, "limit": 10000}
        )
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"]["code"] == "bad-parameter"
        return
    known = set(values_in(served, "epay-monthly", column))
    wanted = value.split(",") if op == "__in" else [value]
    rows = answer.json()["rows"]
    if op in ("", "__in"):
        assert {r[column] for r in rows} <= set(wanted) & known
    if op == "__contains":
        assert all(value.lower() in r[column].lower() for r in rows)


@FIXTURE
@given(parameter=st.sampled_from(["select", "order", "cursor", "version", "limit"]), value=HOSTILE)
def test_hostile_control_parameters_are_refused(served: Served, parameter: str, value: str) -> None:
    with served.client() as client:
        answer = client.get(f"{API}/epay-monthly/records", params={parameter: value})
        measured = client.get(f"{API}/epay-monthly/aggregate", params={"measures": value})
        grouped = client.get(f"{API}/epay-monthly/aggregate", params={"group_by": value})
    for response in (answer, measured, grouped):
        assert response.status_code in (400, 404), response.text
        assert set(response.json()["error"]) == {"code", "message", "hint"}
