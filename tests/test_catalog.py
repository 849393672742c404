"""The shipped catalog is valid, and every catalog rule names its problem.

Through the command line (`bawaba catalog validate`) and through the Python API
(`bawaba.catalog.validate_catalog`). Each broken catalog is a copy of the shipped one with
one change, so the problem it shows is exactly the rule under test.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bawaba.catalog import validate_catalog
from conftest import ROOT, SHIPPED_DATASETS

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
CATALOG = ROOT / "catalog.yaml"

Raw = dict[str, Any]


def _validate(path: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")}
    args = [BAWABA, "catalog", "validate"] + ([] if path is None else ["--path", str(path)])
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def _shipped() -> Raw:
    """The shipped catalog as plain data; the JSON round trip undoes YAML's shared anchors,
    so changing one field changes it in one dataset only."""
    raw: Raw = json.loads(json.dumps(yaml.safe_load(CATALOG.read_text(encoding="utf-8"))))
    return raw


def _dataset(raw: Raw, dataset_id: str) -> Raw:
    found: Raw = next(d for d in raw["datasets"] if d["id"] == dataset_id)
    return found


def _field(raw: Raw, dataset_id: str, name: str) -> Raw:
    found: Raw = next(f for f in _dataset(raw, dataset_id)["fields"] if f["name"] == name)
    return found


# ----------------------------------------------------------------------------- shipped


def test_the_shipped_catalog_has_no_problems() -> None:
    catalog, problems = validate_catalog(CATALOG)
    assert [str(p) for p in problems] == []
    assert catalog is not None
    assert len(catalog.datasets) == SHIPPED_DATASETS
    tiers = [d.tier for d in catalog.datasets]
    assert tiers.count("open") == 6
    assert tiers.count("premium") == SHIPPED_DATASETS - 6


def test_the_cli_validates_the_shipped_catalog_from_the_settings_path() -> None:
    done = _validate(None, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"catalog.yaml: {SHIPPED_DATASETS} datasets, no problems"


def test_the_shipped_catalog_keeps_the_privacy_promises() -> None:
    catalog, _ = validate_catalog(CATALOG)
    assert catalog is not None
    for ds in catalog.datasets:
        if ds.id == "eservice-catalog":
            assert ds.privacy is None
            assert not ds.by_role("measure")
            continue
        assert ds.privacy is not None, ds.id
        expected = (10, 2) if ds.tier == "open" else (5, 3)
        assert (ds.privacy.k, ds.privacy.max_dimensions) == expected, ds.id
        assert ds.privacy.p == 15, ds.id
        flag = ds.field("suppressed")
        assert (flag.role, flag.type) == ("flag", "boolean"), ds.id
        licence = "CC-BY-4.0" if ds.tier == "open" else "bawaba-premium"
        assert ds.licence == licence, ds.id


def test_only_counts_and_sums_are_additive() -> None:
    catalog, _ = validate_catalog(CATALOG)
    assert catalog is not None
    for ds in catalog.datasets:
        for f in ds.fields:
            if f.name == "payers" or f.unit in ("percent", "score"):
                assert not f.additive, f"{ds.id}.{f.name}"
            if f.name in ("transactions", "amount_aed"):
                assert f.additive, f"{ds.id}.{f.name}"


def test_the_shipped_catalog_declares_the_ranges_its_definitions_imply() -> None:
    catalog, _ = validate_catalog(CATALOG)
    assert catalog is not None
    for ds in catalog.datasets:
        for f in ds.fields:
            where = f"{ds.id}.{f.name}"
            bounds = (f.minimum, f.maximum)
            if f.unit in ("transactions", "payers", "attempts", "payments", "AED"):
                assert bounds == (0, None), where
            elif f.unit == "percent" and "growth" in f.name:
                # A change on the year before falls below 0 or beyond 100.
                assert bounds == (None, None), where
            elif f.unit == "percent" or f.name == "maturity_index":
                assert bounds == (0, 100), where
    assert catalog.dataset("service-maturity").field("satisfaction_score").maximum == 5
    assert catalog.dataset("service-maturity").field("satisfaction_score").minimum == 1
    hour = catalog.dataset("epay-hourly-profile").field("hour_of_week")
    assert (hour.minimum, hour.maximum) == (0, 7 * 24 - 1)
    assert all(
        (f.minimum, f.maximum) == (2000, 2100)
        for ds in catalog.datasets
        for f in ds.fields
        if f.name == "year"
    )


def test_rows_sort_by_time_then_department() -> None:
    catalog, _ = validate_catalog(CATALOG)
    assert catalog is not None
    for ds in catalog.datasets:
        times = [f.name for f in ds.by_role("time")]
        assert list(ds.sort_by[: len(times)]) == times, ds.id
        assert ds.sort_by[len(times)] == "department", ds.id
        assert len(set(ds.sort_by)) == len(ds.sort_by), ds.id


def test_every_builder_is_named_once() -> None:
    catalog, _ = validate_catalog(CATALOG)
    assert catalog is not None
    builders = [ds.builder for ds in catalog.datasets]
    assert len(set(builders)) == len(builders)
    assert all(ds.builder == ds.id.replace("-", "_") for ds in catalog.datasets)


# ------------------------------------------------------------------------------ broken


def _unknown_key(raw: Raw) -> None:
    raw["datasets"][0]["colour"] = "blue"


def _english_for_arabic(raw: Raw) -> None:
    title = _dataset(raw, "epay-monthly")["title"]
    title["ar"] = title["en"]


def _empty_arabic_field_description(raw: Raw) -> None:
    _field(raw, "epay-monthly", "channel")["description"]["ar"] = ""


def _dimension_without_code_list(raw: Raw) -> None:
    del _field(raw, "epay-payment-methods", "payment_method")["code_list"]


def _measure_without_unit(raw: Raw) -> None:
    del _field(raw, "epay-annual", "amount_aed")["unit"]


def _open_k_below_ten(raw: Raw) -> None:
    _dataset(raw, "epay-monthly")["privacy"]["k"] = 5


def _premium_k_below_five(raw: Raw) -> None:
    _dataset(raw, "payer-mix")["privacy"]["k"] = 4


def _three_dimensions_in_the_open_tier(raw: Raw) -> None:
    ds = _dataset(raw, "epay-monthly")
    ds["fields"].insert(3, _field(_shipped(), "epay-payment-methods", "payment_method"))


def _max_dimensions_above_the_tier_limit(raw: Raw) -> None:
    # Raising the dataset's own limit does not lift the tier's.
    ds = _dataset(raw, "epay-monthly")
    ds["privacy"]["max_dimensions"] = 3
    ds["fields"].insert(3, _field(_shipped(), "epay-payment-methods", "payment_method"))


def _unknown_licence(raw: Raw) -> None:
    _dataset(raw, "epay-hourly-profile")["licence"] = "CC0-1.0"


def _inverted_range(raw: Raw) -> None:
    score = _field(raw, "service-maturity", "satisfaction_score")
    score["minimum"], score["maximum"] = 5, 1


def _range_on_a_text_field(raw: Raw) -> None:
    _field(raw, "epay-monthly", "channel")["minimum"] = 0


BROKEN: list[tuple[Callable[[Raw], None], str, str]] = [
    (_unknown_key, "unknown-key", "datasets.0.colour"),
    (_english_for_arabic, "missing-translation", "datasets.epay-monthly.title"),
    (
        _empty_arabic_field_description,
        "missing-translation",
        "datasets.epay-monthly.fields.channel.description",
    ),
    (
        _dimension_without_code_list,
        "dimension-without-code-list",
        "datasets.epay-payment-methods.fields.payment_method",
    ),
    (_measure_without_unit, "measure-without-unit", "datasets.epay-annual.fields.amount_aed"),
    (_open_k_below_ten, "k-too-low", "datasets.epay-monthly"),
    (_premium_k_below_five, "k-too-low", "datasets.payer-mix"),
    (_three_dimensions_in_the_open_tier, "too-many-dimensions", "datasets.epay-monthly"),
    (_max_dimensions_above_the_tier_limit, "too-many-dimensions", "datasets.epay-monthly"),
    (_unknown_licence, "unknown-licence", "datasets.epay-hourly-profile"),
    (
        _inverted_range,
        "range-inverted",
        "datasets.service-maturity.fields.satisfaction_score",
    ),
    (_range_on_a_text_field, "range-not-numeric", "datasets.epay-monthly.fields.channel"),
]


def _write(raw: Raw, tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("breaking", "slug", "where"), BROKEN, ids=[b[0].__name__.strip("_") for b in BROKEN]
)
def test_each_rule_names_its_problem(
    breaking: Callable[[Raw], None], slug: str, where: str, tmp_path: Path
) -> None:
    raw = _shipped()
    breaking(raw)
    path = _write(raw, tmp_path)

    _, problems = validate_catalog(path)
    assert [(p.slug, p.where) for p in problems] == [(slug, where)]

    done = _validate(path, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith(f"{where}: ")
    assert lines[0].endswith(f"[{slug}]")
    assert lines[1] == f"{path}: 1 problem(s)"


@pytest.mark.parametrize(
    ("breaking", "message"),
    [
        (_inverted_range, "minimum 5 is greater than maximum 1"),
        (_range_on_a_text_field, "minimum/maximum are for integer or decimal fields, not string"),
    ],
)
def test_a_bad_range_says_what_is_wrong(
    breaking: Callable[[Raw], None], message: str, tmp_path: Path
) -> None:
    raw = _shipped()
    breaking(raw)
    _, problems = validate_catalog(_write(raw, tmp_path))
    assert [p.message for p in problems] == [message]


def test_a_range_of_one_value_is_a_range(tmp_path: Path) -> None:
    raw = _shipped()
    score = _field(raw, "service-maturity", "satisfaction_score")
    score["minimum"] = score["maximum"] = 3
    assert validate_catalog(_write(raw, tmp_path))[1] == []


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    raw = _shipped()
    _unknown_licence(raw)
    _open_k_below_ten(raw)
    _measure_without_unit(raw)
    path = _write(raw, tmp_path)

    done = _validate(path, cwd=tmp_path)
    assert done.returncode == 1
    for where, slug in [
        ("datasets.epay-hourly-profile", "unknown-licence"),
        ("datasets.epay-monthly", "k-too-low"),
        ("datasets.epay-annual.fields.amount_aed", "measure-without-unit"),
    ]:
        assert f"{where}: " in done.stdout
        assert f"[{slug}]" in done.stdout
    assert done.stdout.splitlines()[-1] == f"{path}: 3 problem(s)"


def test_a_missing_catalog_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    done = _validate(path, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{path}: no catalog file here [missing-file]" in done.stdout
