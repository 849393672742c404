"""The portal's parts without a server: charts, UI strings, labels, plans and snippets."""

from __future__ import annotations

import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.catalog.model import Catalog
from bawaba.portal import charts
from bawaba.portal.charts import Point
from bawaba.portal.data import chart_spec, main_measure
from bawaba.portal.i18n import FREQUENCIES, GRAINS, ROLES, TYPES, UI, UNITS, Translator
from bawaba.portal.labels import code_labels
from bawaba.portal.routes import SORTS
from bawaba.portal.snippets import snippets
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference
from conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.yaml")


# ---------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "step"), [(100, 25), (1, 0.25), (7, 2), (52_000_000, 20_000_000), (0, 1)]
)
def test_nice_steps(span: float, step: float) -> None:
    assert charts.nice_step(span) == pytest.approx(step)


def test_ticks_start_at_zero_and_cover_the_values() -> None:
    ticks = charts.value_ticks([3.0, 97.0])
    assert ticks[0] == 0
    assert ticks[-1] >= 97
    negative = charts.value_ticks([-12.0, 30.0])
    assert negative[0] <= -12
    assert 0 in negative


def render(points: list[Point], kind: charts.Kind, rtl: bool = False) -> ET.Element:
    svg = charts.render(
        points, kind=kind, title="T <b>", description="D & d", chart_id="c", rtl=rtl
    )
    return ET.fromstring(str(svg))  # noqa: S314 - our own output; raises if not well-formed


def points(n: int) -> list[Point]:
    return [Point(f"2013-{i + 1:02d}", float(i * 10 + 5)) for i in range(n)]


def test_a_bar_chart_has_one_bar_per_point_and_names_itself() -> None:
    root = render(points(5), "bar")
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.findtext(f"{SVG}title") == "T <b>"
    assert root.findtext(f"{SVG}desc") == "D & d"
    bars = root.findall(f".//{SVG}rect[@class='mark']")
    assert len(bars) == 5
    assert bars[0].findtext(f"{SVG}title") == "2013-01: 5.0"
    heights = [float(b.get("height", 0)) for b in bars]
    assert heights == sorted(heights), "taller bars for larger values"


def test_a_line_chart_breaks_where_a_value_is_withheld() -> None:
    series = points(6)
    series[2] = Point(series[2].label, None)
    root = render(series, "line")
    assert len(root.findall(f".//{SVG}circle[@class='mark']")) == 5
    path = root.find(f".//{SVG}path[@class='line']")
    assert path is not None
    assert path.get("d", "").count("M") == 2


def test_a_right_to_left_chart_runs_from_the_right() -> None:
    def xs(rtl: bool) -> list[float]:
        root = render(points(4), "line", rtl=rtl)
        return [float(c.get("cx", 0)) for c in root.findall(f".//{SVG}circle")]

    assert xs(False) == sorted(xs(False))
    assert xs(True) == sorted(xs(True), reverse=True)


def test_chart_labels_are_escaped() -> None:
    root = render([Point("<script>alert(1)</script>", 1.0)], "bar")
    text = ET.tostring(root, encoding="unicode")
    assert "<script>" not in text
    assert root.findall(f".//{SVG}script") == []


def test_an_empty_chart_still_renders() -> None:
    root = render([Point("2013", None)], "bar")
    assert root.findall(f".//{SVG}rect[@class='mark']") == []


# ---------------------------------------------------------------------------------------
# What the dataset page charts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_id", "measure", "statistic", "axis"),
    [
        ("epay-annual", "amount_aed", "sum", "year"),
        ("epay-monthly", "amount_aed", "sum", "month"),
        ("eservice-adoption", "adoption_pct", "avg", "quarter"),
        ("service-maturity", "maturity_index", "avg", "year"),
        ("eservice-catalog", None, "count", "department"),
    ],
)
def test_the_chart_shows_the_datasets_main_measure(
    catalog: Catalog, dataset_id: str, measure: str | None, statistic: str, axis: str
) -> None:
    dataset = catalog.dataset(dataset_id)
    spec = chart_spec(dataset)
    assert spec is not None
    assert (spec.measure.name if spec.measure else None) == measure
    assert spec.statistic == statistic
    assert spec.axis.name == axis


def test_every_dataset_with_measures_has_a_main_one(catalog: Catalog) -> None:
    for dataset in catalog.datasets:
        if dataset.by_role("measure"):
            assert main_measure(dataset) is not None, dataset.id


# ---------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------

ARABIC = re.compile(r"[\u0600-\u06FF]")
SAME_IN_BOTH = {"download_csv", "download_json", "download_parquet"}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_ui_string_exists_in_both_languages_with_the_same_placeholders() -> None:
    for key, (en, ar) in UI.items():
        assert en.strip(), key
        assert ar.strip(), key
        assert fields(en) == fields(ar), key
        if key not in SAME_IN_BOTH:
            assert ARABIC.search(ar), f"{key}: the Arabic text has no Arabic letters"


def test_every_catalog_term_has_words(catalog: Catalog) -> None:
    for dataset in catalog.datasets:
        assert dataset.grain in GRAINS
        assert dataset.update_frequency in FREQUENCIES
        for field in dataset.fields:
            assert field.role in ROLES
            assert field.type in TYPES
            assert field.unit is None or field.unit in UNITS, field.unit


def test_templates_use_only_known_strings() -> None:
    templates = Path(__file__).parent.parent / "platform/bawaba/portal/templates"
    used: set[str] = set()
    for path in templates.glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_]+)["']\s*[,)]""", path.read_text()))
    assert used, "no t() calls found"
    # Keys the templates and routes build from a prefix and a value.
    used |= {f"facet_{f}" for f in ("tier", "topic", "department", "format")}
    used |= {f"sort_{s}" for s in SORTS}
    used |= {f"tier_{t}" for t in ("open", "premium")}
    used |= {f"download_{f}" for f in ("csv", "json", "parquet", "datapackage")}
    assert used - set(UI) == set()


def test_numbers_in_both_languages() -> None:
    en, ar = Translator("en"), Translator("ar")
    assert en.compact(5_600_000_000) == "5.6 bn"
    assert ar.compact(5_600_000_000) == "5.6 مليار"
    assert en.compact(4_547_829) == "4.5 m"
    assert en.number(4_547_829) == "4,547,829"
    assert en.percent(27.27, signed=True) == "+27.3 %"
    assert ar.rate("600/minute") == "600 طلب في الدقيقة"
    assert en.rate("odd") == "odd"
    assert en.dir == "ltr"
    assert ar.dir == "rtl"


def test_every_published_code_has_a_label_in_both_languages(catalog: Catalog) -> None:
    reference = load_reference()
    labels = code_labels()
    for dataset in catalog.datasets:
        for field in dataset.fields:
            if field.code_list is None:
                continue
            for code in code_set(reference, field.code_list):
                label = labels[field.code_list][code]
                assert label.en, code
                assert ARABIC.search(label.ar), code
    assert labels["services"]["RTA-OTHER"].en.startswith("Other services of")


# ---------------------------------------------------------------------------------------
# Plans and snippets
# ---------------------------------------------------------------------------------------


def test_plan_limits_read_as_words_in_both_languages() -> None:
    english, arabic = Translator("en"), Translator("ar")
    assert english.rate("600/minute;20000/hour") == (
        f"{english('rate_minute', count=english.number(600))}, "
        f"{english('rate_hour', count=english.number(20000))}"
    )
    assert "، " in arabic.rate("600/minute;20000/hour")
    assert english.rate("5 per fortnight") == "5 per fortnight"


@pytest.mark.parametrize("dataset_id", ["epay-annual", "payer-mix"])
def test_snippets_are_valid_code(catalog: Catalog, dataset_id: str) -> None:
    dataset = catalog.dataset(dataset_id)
    found = {s.id: s for s in snippets("http://127.0.0.1:8000", dataset)}
    assert set(found) == {"curl", "python", "duckdb"}
    compile(found["python"].code, "<snippet>", "exec")  # raises on a syntax error
    statements = duckdb.extract_statements(found["duckdb"].code)  # parses, runs nothing
    assert len(statements) == (4 if dataset.tier == "premium" else 3)
    url = f"http://127.0.0.1:8000/api/v1/datasets/{dataset_id}/download.parquet"
    assert url in found["duckdb"].code
    assert ("X-API-Key" in found["curl"].code) == (dataset.tier == "premium")
