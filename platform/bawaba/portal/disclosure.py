"""The dataset page's "Disclosure control" section, from the version's disclosure report.

The report is the API's (``Library.disclosure``), so the page and
``/api/v1/datasets/{id}/versions/{v}/disclosure`` cannot say different things; this only
puts it in the page's language. Side information comes in both languages from the report;
other datasets are named by their catalog titles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bawaba.catalog.model import Catalog
from bawaba.portal.i18n import CONTRIBUTORS, Translator
from bawaba.publish.disclosure_report import DisclosureReport
from bawaba.serving.library import Library, Published
from bawaba.serving.problems import NotFound


@dataclass(frozen=True)
class LinkedView:
    dataset: str
    title: str
    on: list[str]
    sentence: str
    """How the two tables' sums meet, ending with a colon before ``on``."""


@dataclass(frozen=True)
class DisclosureView:
    version: str
    href: str
    """The report as JSON."""
    report: DisclosureReport | None
    """None for a version published before disclosure reports."""
    contributors: str = ""
    restriction: list[str] = field(default_factory=list)
    side_information: list[str] = field(default_factory=list)
    relations: list[LinkedView] = field(default_factory=list)


def _linked(t: Translator, catalog: Catalog, report: DisclosureReport) -> list[LinkedView]:
    titles = {d.id: t.text(d.title) for d in catalog.datasets}
    return [
        LinkedView(
            dataset=r.dataset,
            title=titles.get(r.dataset, r.dataset),
            on=r.on,
            sentence=t("disclosure_within" if r.kind == "within" else "disclosure_equation"),
        )
        for r in report.relations
    ]


def disclosure_view(t: Translator, library: Library, published: Published) -> DisclosureView:
    """The section's content for ``published`` (whose dataset the caller may read)."""
    href = f"/api/v1/datasets/{published.dataset.id}/versions/{published.version}/disclosure"
    try:
        report = library.disclosure(published)
    except NotFound:
        return DisclosureView(published.version, href, None)
    separator = "، " if t.lang == "ar" else ", "
    rules = report.rules
    return DisclosureView(
        version=published.version,
        href=href,
        report=report,
        contributors=separator.join(
            t.term(CONTRIBUTORS, c) for c in (rules.contributors if rules else [])
        ),
        restriction=[f"{c} = {v}" for c, v in (rules.restriction.items() if rules else ())],
        side_information=[s.ar if t.lang == "ar" else s.en for s in report.side_information],
        relations=_linked(t, library.catalog, report),
    )
