"""The HTML portal over HTTP: pages, languages, the preview against DuckDB, premium pages,
errors as pages, static files and render time. The browser tests are in
test_portal_browser.py."""

from __future__ import annotations

import re
import statistics
from decimal import Decimal
from importlib import resources
from pathlib import Path

import duckdb
import httpx
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.core.release_storage import open_storage
from bawaba.portal.data import PAGE_ROWS
from bawaba.portal.i18n import Translator
from bawaba.serving.library import Library
from conftest import SHIPPED_DATASETS, Served, api_settings, serve_release
from htmltext import table

pytestmark = pytest.mark.xdist_group("portal")


@pytest.fixture(scope="module")
def library(served: Served) -> Library:
    return Library(load_catalog(served.settings.catalog_path), open_storage(served.settings))


def parquet(library: Library, dataset_id: str) -> Path:
    return library.resolve(dataset_id).path


def get(served: Served, path: str, **options: object) -> httpx.Response:
    with served.client() as client:
        return client.get(path, **options)  # type: ignore[arg-type]


def html_attr(html: str, name: str) -> str:
    match = re.search(rf"<html[^>]*\b{name}=\"([^\"]*)\"", html)
    assert match, f"<html> has no {name}"
    return match.group(1)


# ---------------------------------------------------------------------------------------
# Pages and languages
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/datasets", "/datasets/epay-annual", "/datasets/payer-mix", "/plans"]
)
@pytest.mark.parametrize(("lang", "direction"), [("en", "ltr"), ("ar", "rtl")])
def test_every_page_answers_in_both_languages(
    served: Served, path: str, lang: str, direction: str
) -> None:
    response = get(served, path, params={"lang": lang})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == lang
    html = response.text
    assert html_attr(html, "lang") == lang
    assert html_attr(html, "dir") == direction
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in html
    other = "ar" if lang == "en" else "en"
    assert f'href="{path}?lang={other}"' in html, "every page links to itself in the other language"


def test_the_language_is_remembered_in_a_cookie(served: Served) -> None:
    with served.client() as client:
        first = client.get("/datasets", params={"lang": "ar"})
        assert "bawaba_lang=ar" in first.headers["set-cookie"]
        assert "samesite=lax" in first.headers["set-cookie"].lower()
        again = client.get("/datasets/epay-annual")
        assert html_attr(again.text, "lang") == "ar"
        assert "set-cookie" not in again.headers, "an unchanged choice is not set again"
        back = client.get("/", params={"lang": "en"})
        assert html_attr(back.text, "lang") == "en"
        assert html_attr(client.get("/plans").text, "lang") == "en"


def test_the_browser_language_is_the_default(served: Served) -> None:
    arabic = get(served, "/", headers={"Accept-Language": "ar-AE,ar;q=0.9,en;q=0.5"})
    assert html_attr(arabic.text, "lang") == "ar"
    other = get(served, "/", headers={"Accept-Language": "fr-FR,fr"})
    assert html_attr(other.text, "lang") == "en"
    unknown = get(served, "/", params={"lang": "xx"})
    assert html_attr(unknown.text, "lang") == "en"


def test_arabic_pages_use_the_catalog_and_reference_labels(served: Served) -> None:
    html = get(served, "/datasets/epay-annual", params={"lang": "ar"}).text
    assert "مدفوعات بوابة الدفع الإلكتروني حسب الجهة والسنة" in html  # title, catalog.yaml
    assert "إجمالي مبالغ هذه المدفوعات بالدرهم الإماراتي." in html  # field description
    assert "قاموس البيانات" in html  # UI string
    _, rows = table(html, "preview")
    assert any("هيئة" in cell or "دائرة" in cell or "بلدية" in cell for r in rows for cell in r)


# ---------------------------------------------------------------------------------------
# Home
# ---------------------------------------------------------------------------------------


def test_home_shows_the_latest_year_from_the_published_data(
    served: Served, library: Library
) -> None:
    year, amount, transactions = duckdb.execute(
        "SELECT year, sum(amount_aed), sum(transactions) FROM read_parquet(?) "
        "GROUP BY year ORDER BY year DESC LIMIT 1",
        [str(parquet(library, "epay-annual"))],
    ).fetchone() or (None, None, None)
    html = get(served, "/", params={"lang": "en"}).text
    t = Translator("en")
    assert f"Collected through ePay in {year}" in html
    assert t.compact(float(amount)) in html
    assert f"{transactions:,}" in html
    for dataset in library.catalog.datasets:
        if dataset.id in html:
            break
    else:
        pytest.fail("the home page links no dataset")


# ---------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------


def titles_listed(html: str) -> set[str]:
    return set(re.findall(r'<h3><a href="/datasets/([a-z0-9-]+)">', html))


def test_catalog_lists_every_dataset_and_filters_by_facet(served: Served, library: Library) -> None:
    everything = titles_listed(get(served, "/datasets").text)
    assert everything == {d.id for d in library.catalog.datasets}
    premium = titles_listed(get(served, "/datasets", params={"tier": "premium"}).text)
    assert premium == {d.id for d in library.catalog.datasets if d.tier == "premium"}
    topic = titles_listed(get(served, "/datasets", params={"topic": "adoption"}).text)
    assert topic == {d.id for d in library.catalog.datasets if "adoption" in d.topics}
    searched = titles_listed(get(served, "/datasets", params={"q": "bank"}).text)
    assert "epay-direct-debit-banks" in searched
    assert "eservice-adoption" not in searched
    arabic = titles_listed(get(served, "/datasets", params={"q": "البنك", "lang": "ar"}).text)
    assert "epay-direct-debit-banks" in arabic


def test_catalog_sorts_and_counts(served: Served) -> None:
    html = get(served, "/datasets", params={"sort": "title", "lang": "en"}).text
    titles = re.findall(r'<h3><a href="/datasets/[a-z0-9-]+">([^<]+)</a>', html)
    assert titles == sorted(titles, key=str.casefold)
    assert f"{SHIPPED_DATASETS} datasets" in html
    assert re.search(r"Open</option>|Open \(6\)", html)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"tier": "gold"}, "open, premium"),
        ({"topic": "weather"}, "payments"),
        ({"department": "NOPE"}, "RTA"),
        ({"sort": "random"}, "title, updated, rows"),
    ],
)
def test_a_bad_facet_is_a_400_page_naming_the_valid_values(
    served: Served, params: dict[str, str], named: str
) -> None:
    response = get(served, "/datasets", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert named in response.text


# ---------------------------------------------------------------------------------------
# Dataset page: preview, chart, downloads, snippets
# ---------------------------------------------------------------------------------------


def column_index(head: list[str], name: str) -> int:
    for index, text in enumerate(head):
        if text.split()[-1] == name:
            return index
    raise AssertionError(f"no column {name} in {head}")


def test_preview_is_the_first_page_in_key_order(served: Served, library: Library) -> None:
    expected = duckdb.execute(
        "SELECT month, department, channel FROM read_parquet(?) "
        "ORDER BY month, department, channel LIMIT ?",
        [str(parquet(library, "epay-monthly")), PAGE_ROWS],
    ).fetchall()
    head, rows = table(get(served, "/datasets/epay-monthly").text, "preview")
    assert len(rows) == PAGE_ROWS
    month, department, channel = (column_index(head, c) for c in ("month", "department", "channel"))
    found = [(r[month], r[department].split()[-1], r[channel].split()[-1]) for r in rows]
    assert found == expected


def amounts(values: list[object]) -> list[str]:
    return [f"{Decimal(str(v)):,.2f}" for v in values]


def test_preview_sorts_and_pages_through_links(served: Served, library: Library) -> None:
    source = str(parquet(library, "epay-monthly"))
    total = duckdb.execute("SELECT count(*) FROM read_parquet(?)", [source]).fetchone()
    assert total is not None
    expected = duckdb.execute(
        "SELECT amount_aed FROM read_parquet(?) "
        "ORDER BY amount_aed DESC NULLS LAST, month, department, channel LIMIT ? OFFSET ?",
        [source, PAGE_ROWS, PAGE_ROWS],
    ).fetchall()
    html = get(served, "/datasets/epay-monthly", params={"order": "-amount_aed"}).text
    assert 'href="/datasets/epay-monthly?order=-amount_aed&amp;page=2#preview"' in html
    assert 'aria-sort="descending"' in html
    # Clicking the sorted column flips it.
    assert 'href="/datasets/epay-monthly?order=amount_aed#preview"' in html
    page = get(served, "/datasets/epay-monthly", params={"order": "-amount_aed", "page": "2"})
    head, rows = table(page.text, "preview")
    index = column_index(head, "amount_aed")
    assert [r[index] for r in rows] == amounts([v for (v,) in expected])
    assert f"Rows 21 to 40 of {total[0]}" in page.text


def test_a_page_past_the_end_shows_the_last_page(served: Served) -> None:
    response = get(served, "/datasets/epay-annual", params={"page": "9999"})
    assert response.status_code == 200
    assert 'rel="next"' not in response.text
    assert 'rel="prev"' in response.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"order": "amount; DROP TABLE x"}, "amount_aed"),
        ({"order": "-nope"}, "order by any of"),
        ({"page": "-1"}, "page"),
        ({"page": "two"}, "page"),
    ],
)
def test_bad_preview_parameters_are_a_400_page(
    served: Served, params: dict[str, str], named: str
) -> None:
    response = get(served, "/datasets/epay-monthly", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert named in response.text


def test_an_unknown_dataset_is_a_404_page(served: Served) -> None:
    response = get(served, "/datasets/no-such-thing", params={"lang": "ar"})
    assert response.status_code == 404
    assert html_attr(response.text, "dir") == "rtl"
    assert "epay-annual" in response.text  # the hint names the datasets


def test_the_chart_has_one_mark_per_period_and_a_text_alternative(
    served: Served, library: Library
) -> None:
    sums = duckdb.execute(
        "SELECT month, sum(amount_aed) FROM read_parquet(?) GROUP BY month ORDER BY month",
        [str(parquet(library, "epay-monthly"))],
    ).fetchall()
    html = get(served, "/datasets/epay-monthly", params={"lang": "en"}).text
    svg = re.search(r"<svg[^>]*class=\"chart[^\"]*\".*?</svg>", html, re.S)
    assert svg, "no chart"
    assert 'role="img"' in svg.group(0)
    assert len(re.findall(r'class="mark"', svg.group(0))) == len(sums)
    assert re.search(r"<desc id=\"chart-main-desc\">Amount \(AED\) from", svg.group(0))
    _, rows = table(html, "chart-table")
    assert [r[0] for r in rows] == [m for m, _ in sums]
    assert [r[1] for r in rows] == amounts([v for _, v in sums])


def test_a_dataset_without_time_charts_rows_by_its_first_dimension(served: Served) -> None:
    html = get(served, "/datasets/eservice-catalog").text
    assert "Rows by Department" in html
    assert 'class="chart chart-bar"' in html


def test_download_links_answer_with_the_data(served: Served, library: Library) -> None:
    html = get(served, "/datasets/epay-annual").text
    links = dict(re.findall(r'<a class="button" href="([^"]+)" data-format="([a-z]+)"', html))
    by_format = {fmt: href for href, fmt in links.items()}
    assert {"csv", "json", "parquet"} <= set(by_format)
    parquet_bytes = get(served, by_format["parquet"]).content
    assert parquet_bytes[:4] == b"PAR1" == parquet_bytes[-4:]
    csv = get(served, by_format["csv"]).text
    assert csv.splitlines()[0].split(",") == list(library.dataset("epay-annual").columns)


def test_snippets_use_urls_that_answer(served: Served) -> None:
    html = get(served, "/datasets/epay-annual").text
    urls = set(re.findall(r"(http://127\.0\.0\.1:\d+/api/v1/[^\s\"'&]+)", html))
    assert any(u.endswith("download.parquet") for u in urls)
    assert any(u.endswith("/records") for u in urls)
    for url in urls:
        assert get(served, url.replace(served.url, "")).status_code == 200, url
    assert "read_parquet(" in html
    assert "curl " in html
    assert "import httpx" in html


def test_a_premium_page_shows_what_it_holds_but_no_rows(served: Served) -> None:
    html = get(served, "/datasets/payer-mix", params={"lang": "en"}).text
    assert "A premium dataset" in html
    assert 'href="/plans"' in html
    assert "repeat_payer_pct" in html  # the data dictionary is public
    assert 'class="preview"' not in html
    assert "<svg" not in html
    assert "download." not in html.split('id="snippets-title"')[0], "no download buttons"
    assert "X-API-Key" in html  # the snippets carry the key header


def test_plans_page_describes_three_plans(served: Served, library: Library) -> None:
    html = get(served, "/plans", params={"lang": "en"}).text
    for plan in ("Developer", "Business", "Enterprise"):
        assert f"<h2>{plan}</h2>" in html
    enterprise = html.split('id="plan-enterprise"')[1].split("</li>\n")[0]
    for dataset in library.catalog.datasets:
        if dataset.tier == "premium":
            assert f'href="/datasets/{dataset.id}"' in enterprise


# ---------------------------------------------------------------------------------------
# Headers, static files, packaging, speed
# ---------------------------------------------------------------------------------------


def test_pages_forbid_inline_script_and_style(served: Served) -> None:
    response = get(served, "/datasets/epay-monthly")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "<script>" not in response.text
    assert " style=" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


def test_static_files_are_served_cached_and_not_rate_limited(served: Served) -> None:
    css = get(served, "/static/portal.css")
    assert css.status_code == 200
    assert "Noto Sans Arabic" in css.text
    assert "max-age" in css.headers["cache-control"]
    assert "ratelimit" not in {k.lower() for k in css.headers}
    font = get(served, "/static/fonts/noto-sans-arabic-arabic-400-normal.woff2")
    assert font.status_code == 200
    assert font.content[:4] == b"wOF2"
    assert get(served, "/static/fonts/OFL.txt").status_code == 200


def test_templates_and_static_files_ship_in_the_package() -> None:
    portal = resources.files("bawaba.portal")
    for name in ("base.html", "home.html", "catalog.html", "dataset.html", "plans.html"):
        assert portal.joinpath("templates", name).is_file()
    for name in ("portal.css", "portal.js", "favicon.svg", "fonts/OFL.txt"):
        assert portal.joinpath("static", name).is_file()
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    for pattern in ("portal/templates/*.html", "portal/static/fonts/*.woff2"):
        assert pattern in pyproject


def test_a_dataset_page_renders_in_under_100_ms(served: Served) -> None:
    """Server-side time (the Server-Timing header: data reads and template), median of
    several renders of the busiest open page."""
    with served.client() as client:
        client.get("/datasets/epay-payment-methods")  # warm: Parquet metadata, templates
        timings = []
        for page in range(1, 8):
            response = client.get("/datasets/epay-payment-methods", params={"page": page})
            timing = response.headers["server-timing"]
            timings.append(float(timing.split("dur=")[1]))
    assert statistics.median(timings) < 100, timings


def test_before_the_first_publish_every_page_still_answers(tmp_path: Path) -> None:
    """A fresh installation: the catalog is known, nothing is published yet."""
    with serve_release(api_settings(tmp_path)) as fresh:
        home = get(fresh, "/", params={"lang": "en"})
        assert home.status_code == 200
        assert "In figures" not in home.text
        catalog = get(fresh, "/datasets")
        assert catalog.status_code == 200
        assert "Not published yet" in catalog.text
        page = get(fresh, "/datasets/epay-monthly")
        assert page.status_code == 200
        assert "Not published yet" in page.text
        assert 'class="preview"' not in page.text
        assert "<svg" not in page.text


def test_the_data_package_button_links_the_datasets_data_package(served: Served) -> None:
    html = get(served, "/datasets/epay-annual", params={"lang": "en"}).text
    href = re.search(r'href="([^"]+)" data-format="datapackage"', html)
    assert href, "no Data Package button"
    with served.client() as client:
        package = client.get(href.group(1)).json()
    assert package["name"] == "epay-annual"
    assert {r["format"] for r in package["resources"]} >= {"csv", "parquet"}
