"""Analysts read a published Parquet straight from its URL: DuckDB's ``read_parquet`` over
HTTP (the httpfs extension, from the ``duckdb-ext-httpfs`` package since extensions cannot
be downloaded here) and Polars, and both get exactly the rows the API serves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import duckdb_ext
import polars as pl
import pytest

from conftest import Served

DATASETS = ["epay-annual", "eservice-adoption", "eservice-catalog"]


def plain(value: Any) -> Any:
    """A value as the JSON API writes it (decimals as numbers, dates as ISO text)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    connection = duckdb.connect(
        config={"extension_directory": str(extensions), "autoinstall_known_extensions": False}
    )
    connection.execute("LOAD httpfs")
    yield connection
    connection.close()


def api_rows(served: Served, dataset: str) -> list[dict[str, Any]]:
    with served.client() as client:
        answer = client.get(f"/api/v1/datasets/{dataset}/records", params={"limit": 10000})
    body = answer.json()
    assert body["total"] == len(body["rows"]) > 0
    return list(body["rows"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_duckdb_reads_the_parquet_url(
    served: Served, duck: duckdb.DuckDBPyConnection, dataset: str
) -> None:
    url = f"{served.url}/api/v1/datasets/{dataset}/download.parquet"
    result = duck.execute("SELECT * FROM read_parquet(?)", [url])
    names = [column[0] for column in result.description or ()]
    rows = [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in result.fetchall()]
    assert rows == api_rows(served, dataset)
    # Range requests let DuckDB read only what a query needs, e.g. the row count.
    (count,) = duck.execute("SELECT count(*) FROM read_parquet(?)", [url]).fetchone() or (0,)
    assert count == len(rows)


@pytest.mark.parametrize("dataset", DATASETS)
def test_polars_reads_the_parquet_url(served: Served, dataset: str) -> None:
    frame = pl.read_parquet(f"{served.url}/api/v1/datasets/{dataset}/download.parquet")
    rows = [{k: plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    assert rows == api_rows(served, dataset)


def test_a_pinned_version_url_reads_that_version(
    served: Served, duck: duckdb.DuckDBPyConnection
) -> None:
    base = f"{served.url}/api/v1/datasets/epay-annual/download.parquet"
    current = duck.execute("SELECT * FROM read_parquet(?)", [base]).fetchall()
    pinned = duck.execute("SELECT * FROM read_parquet(?)", [f"{base}?version=v1"]).fetchall()
    assert (
        current == duck.execute("SELECT * FROM read_parquet(?)", [f"{base}?version=v2"]).fetchall()
    )
    assert pinned != current
