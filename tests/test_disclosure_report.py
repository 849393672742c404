"""The public disclosure report of a version: written at publish time, served by the API and
shown on the dataset page, consistent with the published file and holding no value of it.

The report's figures are checked over a real publish (scale 0.1, where open and premium
tables have suppressed cells); the paths' refusals over the small generated releases of
``conftest.served``, whose versions predate the reports.
"""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.catalog.model import Catalog
from bawaba.core import versions
from bawaba.disclosure.attacker import SIDE_INFORMATION
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, Served, api_settings, env_for, random_key, serve_release

API = "/api/v1/datasets"
BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
REFERENCE = "eservice-catalog"


def bawaba(settings: Settings, *args: str) -> None:
    done = subprocess.run(
        [BAWABA, *args], env=env_for(settings), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.yaml")


@pytest.fixture(scope="module")
def publishing(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real simulate -> pipelines -> publish at scale 0.1."""
    root = tmp_path_factory.mktemp("disclosure-report")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.1,
        pseudonym_key=random_key(),  # type: ignore[arg-type]
    )
    bawaba(settings, "simulate")
    with serve_in_thread(create_app(settings.systems_dir)) as url:
        bawaba(settings.model_copy(update={"departments_api_url": url}), "pipelines", "run")
    bawaba(settings, "publish")
    return settings


@pytest.fixture(scope="module")
def published(publishing: Settings) -> Iterator[Served]:
    root = publishing.datasets_dir.parent
    with serve_release(api_settings(root, scale=0.1)) as server:
        yield server


@pytest.fixture(scope="module")
def business(published: Served) -> str:
    return published.new_key("business")


@pytest.fixture(scope="module")
def enterprise(published: Served) -> str:
    """A key whose plan reads every premium dataset."""
    return published.new_key("enterprise")


def current(served: Served) -> dict[str, str]:
    release = versions.read_release(served.settings.datasets_dir)
    assert release is not None
    return release.datasets


def report_of(served: Served, dataset: str, version: str, key: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    with served.client() as client:
        return client.get(f"{API}/{dataset}/versions/{version}/disclosure", headers=headers)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key path, leaf or container) of a JSON document."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, f"{path}[]")


# --- what the report says ----------------------------------------------------------------


def test_the_report_matches_the_published_file_and_the_catalog(
    published: Served, catalog: Catalog, enterprise: str
) -> None:
    live = current(published)
    controlled = [d for d in catalog.datasets if d.privacy is not None and d.id in live]
    assert any(d.tier == "premium" for d in controlled), "no premium table was published"
    suppressed_somewhere = False
    for dataset in controlled:
        version = live[dataset.id]
        answer = report_of(published, dataset.id, version, enterprise)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert (report["dataset"], report["version"], report["tier"]) == (
            dataset.id,
            version,
            dataset.tier,
        )
        assert report["controlled"] is True
        assert dataset.privacy is not None
        assert report["rules"] == {
            "k": dataset.privacy.k,
            "p": dataset.privacy.p,
            "contributors": ["payers"],
            "restriction": report["rules"]["restriction"],
            "max_dimensions": dataset.privacy.max_dimensions,
        }
        assert dict(dataset.privacy.restriction).items() <= report["rules"]["restriction"].items()
        frame = pl.read_parquet(
            published.settings.datasets_dir / dataset.id / version / "data.parquet"
        )
        hidden = int(frame["suppressed"].sum())
        cells = report["cells"]
        assert cells["rows"] == frame.height
        assert cells["primary"] >= 0
        assert cells["secondary"] >= 0
        assert cells["primary"] + cells["secondary"] == hidden, dataset.id
        assert cells["suppressed_share"] == round(hidden / frame.height, 4)
        assert report["audit"]["passed"] is True
        manifest = versions.read_manifest(published.settings.datasets_dir, dataset.id, version)
        assert report["audit"]["release"] == manifest.lineage["release"]
        assert report["audit"]["released_on"] == manifest.created_at[:10]
        if hidden:
            suppressed_somewhere = True
            assert report["audit"]["audited_cell_quantities"] >= hidden
        assert [s["id"] for s in report["side_information"]] == [s.id for s in SIDE_INFORMATION]
        assert report["side_information"][0]["ar"] == SIDE_INFORMATION[0].ar
    assert suppressed_somewhere, "no published table had a suppressed cell"


def test_relations_name_published_datasets_and_agree_from_both_sides(
    published: Served, enterprise: str
) -> None:
    live = current(published)
    reports = {
        d: report_of(published, d, v, enterprise).json() for d, v in live.items() if d != REFERENCE
    }
    for name, report in reports.items():
        for linked in report["relations"]:
            other = linked["dataset"]
            assert other in reports
            assert other != name
            back = next(r for r in reports[other]["relations"] if r["dataset"] == name)
            assert (back["on"], back["quantities"], back["kind"], back["part"]) == (
                linked["on"],
                linked["quantities"],
                linked["kind"],
                linked["part"],
            )
            assert linked["kind"] in ("equation", "within")
            assert (linked["part"] is None) == (linked["kind"] == "equation")
    annual = next(r for r in reports["epay-monthly"]["relations"] if r["dataset"] == "epay-annual")
    assert annual["on"] == ["department", "year"]
    assert annual["kind"] == "equation"
    assert "epay_success:count" in annual["quantities"]


def test_the_report_holds_no_value_of_the_data(
    published: Served, catalog: Catalog, enterprise: str
) -> None:
    measures = {f.name for d in catalog.datasets for f in d.by_role("measure")}
    live = current(published)
    for dataset, version in live.items():
        answer = report_of(published, dataset, version, enterprise)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        for path, value in walk(report):
            assert path.rpartition(".")[2] not in measures, (dataset, path)
            if isinstance(value, float):
                assert path in (".rules.p", ".cells.suppressed_share"), (dataset, path)
        # Counts of cells, never a cell's place: no coordinate value appears.
        assert "RTA" not in str(report)


def test_the_reference_dataset_is_not_controlled(published: Served) -> None:
    report = report_of(published, REFERENCE, current(published)[REFERENCE]).json()
    assert report["controlled"] is False
    assert report["reason"]
    for part in ("rules", "cells", "audit"):
        assert report[part] is None, part


def test_the_report_is_world_readable_beside_the_manifest(published: Served) -> None:
    version = current(published)["epay-monthly"]
    folder = published.settings.datasets_dir / "epay-monthly" / version
    for name in (versions.DATA, versions.MANIFEST, versions.GATE_REPORT, versions.DISCLOSURE):
        assert (folder / name).stat().st_mode & 0o044 == 0o044, name


# --- who may read it, and what is not there ----------------------------------------------


def test_a_premium_report_needs_a_key_like_its_data(published: Served, business: str) -> None:
    version = current(published)["payer-mix"]
    anonymous = report_of(published, "payer-mix", version)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    developer = report_of(published, "payer-mix", version, published.new_key("developer"))
    assert developer.status_code == 403
    assert developer.json()["error"]["code"] == "forbidden"
    assert report_of(published, "payer-mix", version, business).status_code == 200


def test_a_version_from_before_the_reports_is_a_404_naming_it(served: Served) -> None:
    answer = report_of(served, "epay-monthly", "v1")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "no-disclosure-report"
    assert "'epay-monthly'" in error["message"]
    assert "'v1'" in error["message"]
    assert "introduced" in error["message"]
    # Reference data needs no file to say it is not controlled.
    assert report_of(served, REFERENCE, "v1").json()["controlled"] is False


@pytest.mark.parametrize(
    ("dataset", "version", "code"),
    [("no-such-dataset", "v1", "not-found"), ("epay-monthly", "v9", "no-such-version")],
)
def test_unknown_datasets_and_versions_are_the_usual_404s(
    served: Served, dataset: str, version: str, code: str
) -> None:
    answer = report_of(served, dataset, version)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == code


def test_openapi_documents_the_path(served: Served) -> None:
    with served.client() as client:
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/datasets/{dataset_id}/versions/{version}/disclosure"][
        "get"
    ]
    assert operation["summary"]
    assert operation["description"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema
    name = schema["$ref"].rpartition("/")[2]
    properties = document["components"]["schemas"][name]["properties"]
    assert {"rules", "relations", "side_information", "cells", "audit"} <= set(properties)
    assert {"401", "403", "404"} <= set(operation["responses"])


def test_the_readme_documents_the_path() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "/api/v1/datasets/{id}/versions/{v}/disclosure" in readme


# --- the dataset page --------------------------------------------------------------------


def section(page: str) -> str:
    found = re.search(r'<section id="disclosure".*?</section>', page, re.S)
    assert found, "the page has no disclosure section"
    return html.unescape(found.group(0))


@pytest.mark.parametrize(
    ("lang", "direction", "heading", "rules", "relations"),
    [
        ("en", "ltr", "Disclosure control", "Rules applied", "Datasets audited together"),
        ("ar", "rtl", "ضبط الإفصاح", "القواعد المطبقة", "مجموعات البيانات التي دُققت مع"),
    ],
)
def test_the_dataset_page_shows_the_report_in_both_languages(
    published: Served,
    catalog: Catalog,
    lang: str,
    direction: str,
    heading: str,
    rules: str,
    relations: str,
) -> None:
    with published.client() as client:
        page = client.get("/datasets/epay-monthly", params={"lang": lang}).text
    assert f'dir="{direction}"' in page
    shown = section(page)
    for words in (heading, rules, relations):
        assert words in shown
    for item in SIDE_INFORMATION:
        assert getattr(item, lang) in shown
    annual = next(d for d in catalog.datasets if d.id == "epay-annual")
    assert getattr(annual.title, lang) in shown
    report = report_of(published, "epay-monthly", current(published)["epay-monthly"]).json()
    for count in (report["cells"]["primary"], report["cells"]["secondary"]):
        assert f"<bdi>{count:,}</bdi>" in shown


def test_the_page_says_when_there_is_no_report_and_premium_pages_show_none(
    served: Served,
) -> None:
    with served.client() as client:
        old = client.get("/datasets/epay-monthly", params={"lang": "ar"}).text
        premium = client.get("/datasets/payer-mix").text
    assert "قبل اعتماد تقارير الإفصاح" in section(old)
    assert 'id="disclosure"' not in premium


# --- publishing again --------------------------------------------------------------------


def test_an_unchanged_dataset_keeps_its_version_and_its_report(
    published: Served, publishing: Settings
) -> None:
    root = publishing.datasets_dir
    before = current(published)
    reports = {d: (root / d / v / versions.DISCLOSURE).read_bytes() for d, v in before.items()}
    bawaba(publishing, "publish")
    assert current(published) == before
    for dataset, version in before.items():
        assert (root / dataset / version / versions.DISCLOSURE).read_bytes() == reports[dataset]
