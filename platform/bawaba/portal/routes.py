"""The portal's pages: home, catalog, dataset and plans, in English and Arabic.

Handlers are plain ``def``: FastAPI runs them in its thread pool, where the DuckDB reads of
``bawaba.portal.data`` may block. Request values are checked here against the catalog and
reference data (facets) or by the API's own parsers (``order``) before any read; a bad one
is answered with the API's error message on an HTML page, with the API's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import HTMLResponse

from bawaba.catalog.model import Dataset
from bawaba.portal import charts, data
from bawaba.portal.cells import cell, unit_text
from bawaba.portal.disclosure import disclosure_view
from bawaba.portal.i18n import FREQUENCIES, GRAINS, ROLES, TYPES, Translator
from bawaba.portal.labels import code_labels
from bawaba.portal.pages import View
from bawaba.portal.snippets import snippets
from bawaba.serving import documents, search
from bawaba.serving.access import require_read
from bawaba.serving.current import listing
from bawaba.serving.deps import AppServices
from bawaba.serving.downloads import FORMATS
from bawaba.serving.library import Published
from bawaba.serving.problems import ApiError, BadParameter, Forbidden, Unauthorised, problems
from bawaba.serving.query import Sort, parse_order
from bawaba.serving.state import Services

SORTS = ("title", "updated", "rows")
NEWEST = 4
HTML = {"text/html": {"schema": {"type": "string"}}}
PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": f"{why} An HTML page saying so.", "content": HTML}
    for status, why in (
        (400, "A facet, `sort`, `order` or `page` that is not valid."),
        (404, "No such dataset."),
    )
}
# The gatekeeper's refusals (a key that is not valid, a rate limit) come before the page,
# in the API's error shape; a failure of the server too.
router = APIRouter(
    tags=["portal"],
    default_response_class=HTMLResponse,
    responses={**problems(401, 429, 500), 200: {"content": HTML}},
)

Lang = Annotated[
    str | None,
    Query(
        description="The page's language, remembered in a cookie: `en` or `ar` (any other "
        "value is ignored, and the cookie or the browser's languages decide)."
    ),
]


def _text(description: str, *values: str) -> Any:
    """A text parameter the handler checks itself (a bad one is an HTML page saying so).
    Empty is valid wherever values are listed: it is what the catalog's form sends for
    "any"."""
    return Query(
        description=description, json_schema_extra={"enum": ["", *values]} if values else None
    )


Words = Annotated[str | None, _text("Words that must all appear in a dataset's texts.")]
TierFacet = Annotated[str | None, _text("Only datasets of this tier.", "open", "premium")]
TopicFacet = Annotated[str | None, _text("Only datasets on this topic.")]
DepartmentFacet = Annotated[
    str | None, _text("Only datasets with data from this department (its code).")
]
FormatFacet = Annotated[
    str | None, _text("Only datasets offered in this format.", *FORMATS, "datapackage")
]
SortParam = Annotated[str | None, _text("The order of the list.", *SORTS)]
PreviewOrder = Annotated[
    str | None, _text("The preview's order: comma-separated columns, `-col` descending.")
]
PreviewPage = Annotated[str | None, _text("The preview's page, from 1.")]


def formats(request: Request) -> list[str]:
    """Download formats, and the Data Package that describes them."""
    return [*FORMATS, "datapackage"]


# ---------------------------------------------------------------------------------------
# Home
# ---------------------------------------------------------------------------------------


@router.get(
    "/",
    summary="The portal's home page",
    description="The newest datasets, the topics and a headline figure, in English or Arabic.",
)
def read_home(request: Request, state: AppServices, lang: Lang = None) -> HTMLResponse:
    view = View(request, "home")
    everything = listing(state.library)
    published = [e for e in everything if e.version is not None]
    # Newest first; within one release, open datasets (which anyone can use) first.
    newest = sorted(
        published,
        key=lambda e: (e.created_at or "", e.dataset.tier == "open"),
        reverse=True,
    )
    catalog = state.library.catalog
    topics = [
        (topic, text, sum(topic in d.topics for d in catalog.datasets))
        for topic, text in catalog.topics.items()
    ]
    return view.render(
        "home.html",
        title=view.t("home_title"),
        headline=data.headline(state),
        published=len(published),
        newest=newest[:NEWEST],
        topics=topics,
    )


# ---------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    count: int
    selected: bool


def _check(name: str, value: str | None, valid: list[str]) -> str | None:
    if value in (None, ""):
        return None
    if value not in valid:
        raise BadParameter(
            f"{name}: no {name} {value!r}", hint=f"the {name} values are: {', '.join(valid)}"
        )
    return value


@router.get(
    "/datasets",
    summary="The catalog page: search and facets",
    description="The datasets matching the search words and facets, with a count per facet value.",
    responses={400: PAGE_ERRORS[400]},
)
def list_datasets(
    request: Request,
    state: AppServices,
    q: Words = None,
    tier: TierFacet = None,
    topic: TopicFacet = None,
    department: DepartmentFacet = None,
    format: FormatFacet = None,
    sort: SortParam = None,
    lang: Lang = None,
) -> HTMLResponse:
    view = View(request, "datasets")
    t = view.t
    catalog = state.library.catalog
    departments = code_labels()["departments"]
    offered = formats(request)
    try:
        chosen = {
            "tier": _check("tier", tier, ["open", "premium"]),
            "topic": _check("topic", topic, list(catalog.topics)),
            "department": _check("department", department, list(departments)),
            "format": _check("format", format, offered),
        }
        order = _check("sort", sort, list(SORTS)) or "title"
    except ApiError as error:
        return view.error(error)
    words = (q or "").strip() or None

    def matching(**override: str | None) -> list[Dataset]:
        facets = {**chosen, **override}
        # Every dataset is offered in every format; the facet says so rather than filters.
        return search.select(
            catalog,
            q=words,
            tier=facets["tier"],
            topic=facets["topic"],
            department=facets["department"],
        )

    def options(name: str, values: dict[str, str]) -> list[Option]:
        return [
            Option(value, label, len(matching(**{name: value})), chosen[name] == value)
            for value, label in values.items()
        ]

    found = listing(state.library, matching())
    if order == "title":
        found.sort(key=lambda e: t.text(e.dataset.title).casefold())
    elif order == "updated":
        found.sort(key=lambda e: e.created_at or "", reverse=True)
    else:
        found.sort(key=lambda e: e.rows or 0, reverse=True)
    facets = {
        "tier": options("tier", {"open": t("tier_open"), "premium": t("tier_premium")}),
        "topic": options("topic", {k: t.text(v) for k, v in catalog.topics.items()}),
        "department": options("department", {k: t.text(v) for k, v in departments.items()}),
        "format": [
            Option(f, t(f"download_{f}"), len(matching()), chosen["format"] == f) for f in offered
        ],
    }
    return view.render(
        "catalog.html",
        title=t("catalog_title"),
        q=words or "",
        facets=facets,
        chosen=chosen,
        sort=order,
        sorts=SORTS,
        found=found,
    )


# ---------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------


def _chart(view: View, state: Services, published: Published) -> dict[str, Any] | None:
    t = view.t
    dataset: Dataset = published.dataset
    spec = data.chart_spec(dataset)
    if spec is None:
        return None
    points = data.chart_points(state, published, spec)
    measure_title = t.text(spec.measure.title) if spec.measure else t("count_of_rows")
    title = t("chart_title", measure=measure_title, axis=t.text(spec.axis.title))
    note = t(
        {"sum": "chart_sum_note", "avg": "chart_avg_note", "count": "chart_count_note"}[
            spec.statistic
        ]
    )
    values = [p.value for p in points if p.value is not None]
    if not values:
        return {"title": title, "note": note, "svg": None, "rows": [], "summary": t("chart_empty")}
    big = max(abs(v) for v in values) >= 10_000
    percent = spec.measure is not None and spec.measure.unit == "percent"

    def short(value: float) -> str:
        if big:
            return t.compact(value)
        text = t.number(value, places=0 if float(value).is_integer() else 1)
        return f"{text} %" if percent else text

    def full(value: float | None) -> str:
        if value is None:
            return t("withheld")
        if spec.measure is None or spec.measure.type == "integer":
            return t.number(round(value))
        return t.number(value, places=2)

    defined = [p for p in points if p.value is not None]
    highest = max(defined, key=lambda p: p.value or 0.0)
    lowest = min(defined, key=lambda p: p.value or 0.0)
    summary = t(
        "chart_summary",
        measure=measure_title,
        first_label=defined[0].label,
        first=full(defined[0].value),
        last_label=defined[-1].label,
        last=full(defined[-1].value),
        max=full(highest.value),
        max_label=highest.label,
        min=full(lowest.value),
        min_label=lowest.label,
    )
    kind: charts.Kind = "line" if spec.over_time and len(points) > 12 else "bar"
    svg = charts.render(
        points,
        kind=kind,
        title=title,
        description=f"{summary} {note}",
        chart_id="chart-main",
        rtl=t.lang == "ar",
        format_value=short,
    )
    return {
        "title": title,
        "note": note,
        "svg": svg,
        "summary": summary,
        "axis": t.text(spec.axis.title),
        "measure": measure_title,
        "rows": [(p.label, full(p.value)) for p in points],
    }


def _preview(
    view: View, state: Services, published: Published, order: tuple[Sort, ...], page: int
) -> dict[str, Any]:
    t: Translator = view.t
    dataset: Dataset = published.dataset
    found = data.preview(state, published, order, page)
    fields = [dataset.field(c) for c in found.columns]
    primary = order[0] if order else None
    headers = []
    for field in fields:
        sorted_here = primary is not None and primary.column == field.name
        descending = sorted_here and primary is not None and primary.descending
        # A click on the sorted column flips it; on another column sorts it ascending.
        target = f"-{field.name}" if sorted_here and not descending else field.name
        headers.append(
            {
                "field": field,
                "title": t.text(field.title),
                "sort": ("descending" if descending else "ascending") if sorted_here else None,
                "href": view.url(order=target, page=None) + "#preview",
                "next_direction": t("descending" if target.startswith("-") else "ascending"),
            }
        )
    if order:
        described = ", ".join(
            f"{t.text(dataset.field(s.column).title)} "
            f"({t('descending' if s.descending else 'ascending')})"
            for s in order
        )
    else:
        described = t("preview_default_order")
    return {
        "headers": headers,
        "rows": [[cell(t, f, v) for f, v in zip(fields, row, strict=True)] for row in found.rows],
        "page": found.page,
        "pages": found.pages,
        "total": found.total,
        "first": found.first,
        "last": found.last,
        "order": described,
        "previous_href": view.url(page=found.page - 1) + "#preview" if found.page > 1 else None,
        "next_href": view.url(page=found.page + 1) + "#preview"
        if found.page < found.pages
        else None,
    }


def _may_read(request: Request, dataset: Dataset) -> bool:
    """The API's own access rule decides: a premium dataset shows what it holds, and how to
    subscribe, but not its rows."""
    try:
        require_read(request, dataset)
    except (Unauthorised, Forbidden):
        return False
    return True


def _page_number(raw: str | None) -> int:
    if raw in (None, ""):
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise BadParameter(f"page: {raw!r} is not a page number", hint="give 1 or more")
    return int(raw)


@router.get(
    "/datasets/{dataset_id}",
    summary="A dataset's page",
    description="Its description, data dictionary, chart, a preview table (ordered and paged), "
    "downloads, API snippets, versions and disclosure report. A premium dataset's page shows "
    "what it holds and how to subscribe; its rows need a key.",
    responses=PAGE_ERRORS,
)
def read_dataset(
    request: Request,
    state: AppServices,
    dataset_id: Annotated[str, Path(description="The dataset's id.")],
    order: PreviewOrder = None,
    page: PreviewPage = None,
    lang: Lang = None,
) -> HTMLResponse:
    view = View(request, "datasets")
    t = view.t
    library = state.library
    try:
        dataset = library.dataset(dataset_id)
        sorts = parse_order(order, dataset.columns)
        page_number = _page_number(page)
        current = library.current_version(dataset.id)
        published = library.resolve(dataset.id) if current else None
    except ApiError as error:
        return view.error(error)
    readable = published if published is not None and _may_read(request, dataset) else None
    relative = documents.links("", dataset)
    versions = [
        documents.version_document(library, dataset, v, "") for v in library.versions(dataset.id)
    ]
    downloads = []
    if readable is not None:
        sizes = {f.name: f.bytes for f in readable.manifest.files}
        for fmt in formats(request):
            href = (
                f"{relative['self']}/datapackage.json"
                if fmt == "datapackage"
                else relative["downloads"][fmt]
            )
            size = sum(sizes.values()) if fmt == "parquet" else None
            downloads.append(
                {"format": fmt, "label": t(f"download_{fmt}"), "href": href, "bytes": size}
            )
    fields = [
        {
            "field": f,
            "title": t.text(f.title),
            "type": t.term(TYPES, f.type),
            "unit": unit_text(t, f),
            "role": t.term(ROLES, f.role),
            "description": t.text(f.description),
        }
        for f in dataset.fields
    ]
    return view.render(
        "dataset.html",
        title=t.text(dataset.title),
        dataset=dataset,
        licence=library.catalog.licences[dataset.licence],
        publisher=t.text(library.catalog.publisher),
        topics=[t.text(library.catalog.topics[topic]) for topic in dataset.topics],
        grain=t.term(GRAINS, dataset.grain),
        frequency=t.term(FREQUENCIES, dataset.update_frequency),
        published=published,
        versions=versions,
        fields=fields,
        chart=_chart(view, state, readable) if readable else None,
        preview=_preview(view, state, readable, sorts, page_number) if readable else None,
        downloads=downloads,
        snippets=snippets(view.base, dataset),
        # Shown where the data is: a premium report needs a key like the data.
        disclosure=disclosure_view(t, library, readable) if readable else None,
    )


# ---------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------


@router.get(
    "/plans",
    summary="The plans and what each reads",
    description="Every plan with its limits, quotas and the premium datasets it includes.",
)
def read_plans(request: Request, state: AppServices, lang: Lang = None) -> HTMLResponse:
    view = View(request, "plans")
    premium = [d for d in state.library.catalog.datasets if d.tier == "premium"]
    plans = [
        {"plan": plan, "datasets": [d for d in premium if plan.reads(d.id)]}
        for plan in state.plans.plans.values()
    ]
    return view.render("plans.html", title=view.t("plans_title"), plans=plans)
