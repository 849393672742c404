"""The portal in a real headless Chromium (Debian's), driven by Playwright for Python.

One browser for the module, a fresh context (cookies, storage) per test, and every page's
console watched: an error there (a failed request, a script error, a refused inline style)
fails the test. Screenshots go to var/test-artefacts/portal/, which git ignores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from browser import FLAGS, ensure_chromium
from conftest import ROOT, Served

pytestmark = pytest.mark.xdist_group("portal-browser")

ARTEFACTS = ROOT / "var" / "test-artefacts" / "portal"


@pytest.fixture(scope="module")
def axe() -> Axe:
    """axe-core (Deque's accessibility engine, shipped in the package) for WCAG checks:
    contrast, names and labels, landmarks, ARIA use, language attributes."""
    return Axe()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """A page, the console errors it met, and the server it talks to."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None, path
        assert response.ok, f"{path}: {response.status}"
        return self.page

    def screenshot(self, name: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _tab(browser: Browser, served: Served, javascript: bool = True) -> Iterator[Tab]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    page = context.new_page()
    tab = Tab(page, served.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(f"{message.text} ({message.location.get('url')})")

    def on_page_error(error: Error) -> None:
        tab.errors.append(f"page error: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield tab
    finally:
        context.close()
    assert tab.errors == [], "the console showed errors"


@pytest.fixture
def tab(browser: Browser, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served)


@pytest.fixture
def tab_without_script(browser: Browser, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served, javascript=False)


PAGES = {
    "home": "/",
    "catalog": "/datasets",
    "dataset": "/datasets/epay-monthly",
    "plans": "/plans",
}


@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_in_both_languages(tab: Tab, axe: Axe, name: str, lang: str) -> None:
    page = tab.open(f"{PAGES[name]}?lang={lang}")
    html = page.locator("html")
    assert html.get_attribute("lang") == lang
    assert html.get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == ("rtl" if lang == "ar" else "ltr")
    assert page.locator("h1").first.is_visible()
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() >= 1, landmark  # type: ignore[arg-type]
    if lang == "ar":
        # The shipped Arabic font is what the browser actually uses for Arabic text.
        page.evaluate("document.fonts.ready")
        assert page.evaluate("document.fonts.check('16px \"Noto Sans Arabic\"', 'بوابة')")
    tab.screenshot(f"{name}-{lang}")
    violations = axe.run(page).response["violations"]
    found = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}" for v in violations]
    assert found == [], "axe-core found accessibility problems"


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_chart_is_drawn(tab: Tab, lang: str) -> None:
    page = tab.open(f"/datasets/epay-monthly?lang={lang}")
    chart = page.locator("svg.chart")
    assert chart.count() == 1
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    marks = chart.locator(".mark")
    assert marks.count() >= 12
    first, last = marks.first.bounding_box(), marks.last.bounding_box()
    assert first is not None
    assert last is not None
    assert first["height"] > 0
    # Time runs left to right in English and right to left in Arabic.
    assert (first["x"] < last["x"]) == (lang == "en")
    assert chart.locator("path.line").count() == 1
    assert chart.get_attribute("role") == "img"
    assert chart.locator("desc").text_content()
    page.get_by_text("The chart's figures as a table" if lang == "en" else "أرقام الرسم").click()
    assert page.locator("table.chart-table tbody tr").count() == marks.count()
    tab.screenshot(f"chart-{lang}")


def test_downloads_work(tab: Tab, tmp_path: Path) -> None:
    page = tab.open("/datasets/epay-annual?lang=en")
    with page.expect_download() as started:
        page.locator('a[data-format="csv"]').click()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)
    header = saved.read_text().splitlines()[0]
    assert header.startswith("year,department,transactions")
    href = page.locator('a[data-format="parquet"]').get_attribute("href")
    assert href is not None
    answer = page.request.get(tab.base + href)
    assert answer.ok
    body = answer.body()
    assert body[:4] == b"PAR1" == body[-4:]
    assert "epay-annual" in started.value.suggested_filename


def test_sorting_and_paging_through_links(tab: Tab) -> None:
    page = tab.open("/datasets/epay-monthly?lang=en")
    page.locator("table.preview th", has_text="amount_aed").get_by_role("link").click()
    assert "order=amount_aed" in page.url
    assert page.locator("table.preview th[aria-sort]").get_attribute("aria-sort") == "ascending"
    page.locator("table.preview th", has_text="amount_aed").get_by_role("link").click()
    assert "order=-amount_aed" in page.url
    page.get_by_role("link", name="Next page").click()
    assert "page=2" in page.url
    assert "Rows 21 to 40" in (page.locator("table.preview caption").text_content() or "")
    tab.screenshot("preview-sorted-page-2")


def test_the_language_switch_is_remembered(tab: Tab) -> None:
    page = tab.open("/?lang=en")
    page.locator("a.lang-switch").click()
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.get_by_role("navigation", name="القائمة الرئيسية").get_by_role(
        "link", name="مجموعات البيانات"
    ).click()
    assert page.url.endswith("/datasets")
    assert page.locator("html").get_attribute("lang") == "ar"


def test_keyboard_users_can_skip_to_the_content_and_see_focus(tab: Tab) -> None:
    page = tab.open("/datasets/epay-annual?lang=en")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_search_and_facets_work_from_the_form(tab: Tab) -> None:
    page = tab.open("/datasets?lang=en")
    page.get_by_label("Search the datasets").fill("bank")
    page.get_by_label("Tier", exact=True).select_option("premium")
    page.get_by_role("button", name="Apply").click()
    assert "q=bank" in page.url
    assert "tier=premium" in page.url
    links = page.locator(".results .card h3 a")
    found = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert found == {"/datasets/epay-direct-debit-banks"}
    assert page.locator("#facet-tier").input_value() == "premium"


def test_the_portal_works_without_javascript(tab_without_script: Tab) -> None:
    page = tab_without_script.open("/datasets/epay-monthly?lang=ar&order=-amount_aed&page=2")
    assert page.locator("svg.chart .mark").count() >= 12
    assert page.locator("table.preview tbody tr").count() == 20
    assert page.locator("button.copy").first.is_hidden()  # needs script; hidden without
    tab_without_script.screenshot("dataset-ar-no-script")
