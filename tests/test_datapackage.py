"""Data Packages: ``frictionless validate`` (the real validator, reading the CSV and Parquet
resources over HTTP) passes on every open dataset's ``datapackage.json``, and fails when the
package and the data disagree."""

from __future__ import annotations

import pytest
from frictionless import validate

from conftest import Served

OPEN = [
    "epay-annual",
    "epay-monthly",
    "epay-payment-methods",
    "eservice-adoption",
    "service-maturity",
    "eservice-catalog",
]


@pytest.mark.parametrize("dataset", OPEN)
def test_frictionless_validates_the_package_and_its_data(served: Served, dataset: str) -> None:
    report = validate(f"{served.url}/api/v1/datasets/{dataset}/datapackage.json")
    assert report.valid, report.flatten(["type", "message"])[:5]
    assert [task.name for task in report.tasks] == [f"{dataset}-csv", f"{dataset}-parquet"]
    with served.client() as client:
        rows = client.get(f"/api/v1/datasets/{dataset}/records", params={"limit": 1}).json()
    assert all(task.stats["rows"] == rows["total"] for task in report.tasks)


def test_the_package_describes_the_dataset_in_both_languages(served: Served) -> None:
    with served.client() as client:
        answer = client.get("/api/v1/datasets/epay-annual/datapackage.json")
    assert answer.status_code == 200
    assert answer.headers["etag"]
    package = answer.json()
    assert package["name"] == "epay-annual"
    assert package["version"] == "v2"
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert package["translations"]["ar"]["title"].startswith("مدفوعات")
    schema = package["resources"][0]["schema"]
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["amount_aed"]["type"] == "number"
    assert fields["amount_aed"]["unit"] == "AED"
    assert fields["year"]["type"] == "integer"
    assert fields["suppressed"]["type"] == "boolean"
    assert fields["department"]["translations"]["ar"]["title"] == "الجهة"
    assert "RTA" in fields["department"]["constraints"]["enum"]
    assert schema["primaryKey"] == ["year", "department"]
    assert [r["path"].rsplit("/", 1)[1] for r in package["resources"]] == [
        "download.csv?version=v2",
        "download.parquet?version=v2",
    ]


def test_a_package_pins_the_version_it_describes(served: Served) -> None:
    with served.client() as client:
        old = client.get("/api/v1/datasets/epay-annual/datapackage.json?version=v1")
        missing = client.get("/api/v1/datasets/epay-annual/datapackage.json?version=v9")
        unknown = client.get("/api/v1/datasets/no-such/datapackage.json")
    assert old.json()["version"] == "v1"
    assert all(r["path"].endswith("?version=v1") for r in old.json()["resources"])
    assert validate(old.json()).valid
    # The open API's paths keep the open API's error shape.
    assert missing.status_code == unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not-found"


def test_frictionless_catches_a_package_that_does_not_match_its_data(served: Served) -> None:
    with served.client() as client:
        descriptor = client.get("/api/v1/datasets/epay-monthly/datapackage.json").json()
    for resource in descriptor["resources"]:
        for field in resource["schema"]["fields"]:
            if field["name"] == "department":
                field["constraints"]["enum"] = ["RTA"]
            if field["name"] == "month":
                field["type"] = "integer"
    report = validate(descriptor)
    assert not report.valid
    kinds = {row[0] for row in report.flatten(["type"])}
    assert {"type-error", "constraint-error"} <= kinds


def test_premium_packages_are_public_metadata(served: Served) -> None:
    with served.client() as client:
        package = client.get("/api/v1/datasets/payer-mix/datapackage.json")
        data = client.get(package.json()["resources"][1]["path"])
    assert package.status_code == 200
    assert package.json()["tier"] == "premium"
    assert data.status_code == 401
