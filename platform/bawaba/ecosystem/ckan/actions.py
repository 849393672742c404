"""The actions themselves: each takes its parsed parameters and returns CKAN's ``result``.

Errors are raised, never returned: CKAN errors from ``envelope``, or the shared API's own
(``NotFound``, ``Unauthorised``, ``BadParameter``), which the router translates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from bawaba import __version__
from bawaba.ecosystem.ckan import dicts
from bawaba.ecosystem.ckan.datastore import datastore_search
from bawaba.ecosystem.ckan.envelope import NotFoundError, ValidationError
from bawaba.ecosystem.ckan.params import (
    DatastoreSearch,
    HelpShow,
    NoParameters,
    OrganizationList,
    OrganizationShow,
    PackageList,
    PackageSearch,
    PackageShow,
    Parameters,
)
from bawaba.ecosystem.ckan.search import indexed, search
from bawaba.serving.deps import base_url
from bawaba.serving.state import services

T = TypeVar("T")

CKAN_API_VERSION = "2.10.0"
"""The CKAN release whose Action API this subset follows; ``status_show`` reports it so
that clients choosing features by version choose the ones Bawaba has."""


@dataclass(frozen=True)
class Action:
    name: str
    parameters: type[Parameters]
    run: Callable[[Request, Any, str], Awaitable[object]]
    """(request, parameters, the action's path) -> result."""
    subject: str
    """The parameter a shared-API failure is about (a Validation Error's field)."""
    summary: str
    description: str


def _packages(request: Request) -> list[dict[str, Any]]:
    library = services(request).library
    catalog = library.catalog
    base = base_url(request)
    departments = [o for o in dicts.organizations(catalog) if o.code is not None]
    return [
        indexed(
            dicts.package_dict(catalog, library, dataset, base),
            catalog,
            dataset,
            [o.name for o in departments if o.owns(dataset)],
        )
        for dataset in catalog.datasets
    ]


def _page(items: list[T], offset: int, limit: int | None) -> list[T]:
    return items[offset:] if limit is None else items[offset : offset + limit]


async def package_list(request: Request, params: PackageList, path: str) -> list[str]:
    names = sorted(d.id for d in services(request).library.catalog.datasets)
    return _page(names, params.offset, params.limit)


async def package_show(request: Request, params: PackageShow, path: str) -> dict[str, Any]:
    library = services(request).library
    dataset = library.dataset(params.id)
    return dicts.package_dict(library.catalog, library, dataset, base_url(request))


async def package_search(request: Request, params: PackageSearch, path: str) -> dict[str, Any]:
    return search(_packages(request), params)


def _count(request: Request, organization: dicts.Organization) -> int:
    return sum(organization.owns(d) for d in services(request).library.catalog.datasets)


async def organization_list(request: Request, params: OrganizationList, path: str) -> list[Any]:
    catalog = services(request).library.catalog
    found = dicts.organizations(catalog)
    if params.organizations:
        wanted = {name.casefold() for name in params.organizations}
        found = [o for o in found if o.name in wanted]
    if params.q:
        text = params.q.casefold()
        found = [o for o in found if text in o.name or text in o.title.casefold()]
    field, _, direction = params.sort.strip().partition(" ")
    keys = {
        "name": lambda o: o.name,
        "title": lambda o: o.title.casefold(),
        "package_count": lambda o: (_count(request, o), o.name),
    }
    if field not in keys or direction.strip().lower() not in ("", "asc", "desc"):
        raise ValidationError(
            {"sort": [f"{params.sort!r}: sort by name, title or package_count, asc or desc"]}
        )
    found.sort(key=keys[field], reverse=direction.strip().lower() == "desc")
    found = _page(found, params.offset, params.limit)
    if params.all_fields:
        return [dicts.organization_dict(o, _count(request, o)) for o in found]
    return [o.name for o in found]


async def organization_show(
    request: Request, params: OrganizationShow, path: str
) -> dict[str, Any]:
    catalog = services(request).library.catalog
    wanted = params.id.casefold()
    for organization in dicts.organizations(catalog):
        if organization.name == wanted:
            break
    else:
        raise NotFoundError(
            f"no organization {params.id!r}; organization_list names them (departments by "
            "their code in lower case, e.g. 'rta', and 'publisher')"
        )
    count = _count(request, organization) if params.include_dataset_count else None
    body = dicts.organization_dict(organization, count)
    if params.include_datasets:
        body["packages"] = [
            {k: v for k, v in p.items() if not k.startswith("_")}
            for p in _packages(request)
            if p["name"] in {d.id for d in catalog.datasets if organization.owns(d)}
        ]
    return body


async def datastore_search_action(
    request: Request, params: DatastoreSearch, path: str
) -> dict[str, Any]:
    return await datastore_search(request, params, path)


async def status_show(request: Request, params: NoParameters, path: str) -> dict[str, Any]:
    return {
        "site_title": "Bawaba",
        "site_description": "Open statistics on government e-payments and e-services in "
        "Dubai, with a CKAN-compatible read API.",
        "site_url": base_url(request),
        "ckan_version": CKAN_API_VERSION,
        "bawaba_version": __version__,
        "locale_default": "en",
        "locales_offered": ["en", "ar"],
        "extensions": ["datastore"],
    }


async def help_show(request: Request, params: HelpShow, path: str) -> str:
    action = ACTIONS.get(params.name)
    if action is None:
        raise NotFoundError(f"no action {params.name!r}; the actions are: {', '.join(ACTIONS)}")
    return f"{action.summary}\n\n{action.description}"


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "package_list",
            PackageList,
            package_list,
            "id",
            "Names of all packages",
            "The ids of every dataset, open and premium, sorted.",
        ),
        Action(
            "package_show",
            PackageShow,
            package_show,
            "id",
            "One package",
            "A dataset as a CKAN package: titles and descriptions (English in `title` and "
            "`notes`, both languages in `title_translated` and `notes_translated`), licence, "
            "tags (topics), the publisher as its organization, and its current downloads as "
            "resources. Premium datasets are shown too; their data needs a key.",
        ),
        Action(
            "package_search",
            PackageSearch,
            package_search,
            "q",
            "Search packages",
            "Packages matching `q` and `fq`, paged with `rows` and `start`, sorted by `sort`, "
            "with value counts for the `facet.field` fields.",
        ),
        Action(
            "organization_list",
            OrganizationList,
            organization_list,
            "sort",
            "Names of the organizations",
            "The departments whose records the datasets are built from (by their code in lower "
            "case), and the publisher, which owns every package.",
        ),
        Action(
            "organization_show",
            OrganizationShow,
            organization_show,
            "id",
            "One organization",
            "A department (or the publisher), with its package count and, with "
            "`include_datasets`, the packages built from its records.",
        ),
        Action(
            "datastore_search",
            DatastoreSearch,
            datastore_search_action,
            "resource_id",
            "Rows of a dataset",
            "Rows of the current version of a dataset, filtered, searched, sorted and paged "
            "like CKAN's DataStore; `fields` describes the columns (DataStore types, labels "
            "and notes from the data dictionary). Page with `offset` until a page comes back "
            "empty, or follow `_links.next`. Premium datasets need a key, sent as "
            "`Authorization` or `X-CKAN-API-Key` (403 Authorization Error without).",
        ),
        Action(
            "status_show",
            NoParameters,
            status_show,
            "",
            "Site status",
            "The site's title, URL, the CKAN API version this subset follows, and extensions "
            "(`datastore`).",
        ),
        Action(
            "help_show",
            HelpShow,
            help_show,
            "name",
            "What an action does",
            "The description of the action `name`; every answer's `help` links here.",
        ),
    )
}
