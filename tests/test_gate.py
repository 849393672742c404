"""The gate's declared-ranges rule, on staged Parquet files: every value lies in its field's
declared range, boundaries included, and a finding names the place, a count and the range,
never the value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bawaba.catalog import Catalog, Dataset, load_catalog
from bawaba.publish import gate
from conftest import ROOT

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "decimal": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.yaml")


def _row(dataset: Dataset, **values: Any) -> dict[str, Any]:
    """A row of ``dataset`` with every numeric field at its lower bound (or 1)."""
    row: dict[str, Any] = {}
    for f in dataset.fields:
        if f.type == "boolean":
            row[f.name] = False
        elif f.type == "string":
            row[f.name] = "RTA" if f.name == "department" else "internet"
        else:
            row[f.name] = f.minimum if f.minimum is not None else 1
    return row | values


def _staged(dataset: Dataset, rows: list[dict[str, Any]], tmp_path: Path) -> pl.DataFrame:
    """``rows`` as the publisher stages them: written to Parquet, read back."""
    schema = {f.name: POLARS_TYPES[f.type] for f in dataset.fields}
    if "amount_aed" in schema:
        schema["amount_aed"] = pl.Decimal(18, 2)
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    path = tmp_path / f"{dataset.id}.parquet"
    frame.write_parquet(path)
    return pl.read_parquet(path)


def _gated(dataset: Dataset, frame: pl.DataFrame) -> gate.GateResult:
    result = gate.GateResult(dataset.id, rows=frame.height)
    gate.check_columns(frame, dataset, result)
    gate.check_ranges(frame, dataset, result)
    return result


def test_the_gate_accepts_every_boundary_value(catalog: Catalog, tmp_path: Path) -> None:
    hourly = catalog.dataset("epay-hourly-profile")
    rows = [
        _row(hourly, year=2000, hour_of_week=0, amount_aed=Decimal("0.00")),
        _row(hourly, year=2100, hour_of_week=167, transactions=0, payers=0),
        _row(hourly, hour_of_week=143, transactions=None, suppressed=True),
    ]
    result = _gated(hourly, _staged(hourly, rows, tmp_path))
    assert result.findings == []
    assert result.rules == ["declared-columns", "declared-ranges"]

    maturity = catalog.dataset("service-maturity")
    low = dict.fromkeys(("services_online_pct", "adoption_pct", "failure_rate_pct"), 0.0)
    high = dict.fromkeys(low, 100.0)
    rows = [
        _row(maturity, satisfaction_score=1.0, maturity_index=0.0, **low),
        _row(maturity, satisfaction_score=5.0, maturity_index=100.0, **high),
        _row(maturity, satisfaction_score=None, maturity_index=None, suppressed=True),
    ]
    assert _gated(maturity, _staged(maturity, rows, tmp_path)).passed


@pytest.mark.parametrize(
    ("dataset", "column", "value", "declared"),
    [
        ("epay-hourly-profile", "hour_of_week", -128, "0–167"),
        ("epay-hourly-profile", "hour_of_week", 168, "0–167"),
        ("epay-hourly-profile", "year", 1999, "2000–2100"),
        ("epay-hourly-profile", "amount_aed", Decimal("-0.01"), "at least 0"),
        ("epay-hourly-profile", "payers", -1, "at least 0"),
        ("service-maturity", "satisfaction_score", 0.99, "1–5"),
        ("service-maturity", "satisfaction_score", 5.01, "1–5"),
        ("service-maturity", "adoption_pct", 100.01, "0–100"),
        ("service-maturity", "maturity_index", float("nan"), "0–100"),
        ("service-performance", "failure_rate_pct", -0.5, "0–100"),
    ],
)
def test_the_gate_refuses_a_value_outside_its_declared_range(
    catalog: Catalog, tmp_path: Path, dataset: str, column: str, value: Any, declared: str
) -> None:
    ds = catalog.dataset(dataset)
    rows = [_row(ds), _row(ds, **{column: value}), _row(ds, **{column: value}), _row(ds)]
    result = _gated(ds, _staged(ds, rows, tmp_path))
    assert not result.passed
    assert "declared-ranges" in result.rules
    [finding] = result.findings
    assert finding.rule == "declared-ranges"
    assert finding.where == f"{dataset}.{column}"
    assert finding.message == f"2 row(s) outside the declared range {declared}"
    assert str(value) not in finding.message, "a gate report never holds a value"


def test_a_field_without_a_range_takes_any_value(catalog: Catalog, tmp_path: Path) -> None:
    annual = catalog.dataset("epay-annual")
    rows = [_row(annual, year=2013, transactions_growth_pct=-85.5, amount_growth_pct=312.0)]
    assert _gated(annual, _staged(annual, rows, tmp_path)).passed
