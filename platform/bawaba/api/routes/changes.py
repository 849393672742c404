"""What changed: the cells added, revised or removed since a version, and the releases.

``/changes?since=vN`` compares the current version's Parquet file with version N's in
DuckDB (``query.compile_changes``), cell by cell on the dataset's key: a cell N did not
have is ``added``, one whose values differ is ``revised`` (with its current values), one
the current version no longer has is ``removed`` (its key only). Applying the rows to
version N's file by key gives the current version's. Both files are public and immutable,
so the answer is determined by the pair of versions and the query, like every other data
answer.
"""

from __future__ import annotations

from typing import Annotated, Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from bawaba.api.openapi import REQUIRED
from bawaba.api.quota import rows_allowed
from bawaba.api.routes.catalog import _error, json_response
from bawaba.api.routes.data import (
    FILE_ANSWERS,
    FILTERS,
    FORMAT_ENUM,
    Order,
    Select,
    _limit,
)
from bawaba.api.security import KEY_OPTIONAL
from bawaba.catalog.model import Dataset
from bawaba.serving import cursors, documents
from bawaba.serving.access import principal, require_export
from bawaba.serving.caching import (
    NOT_MODIFIED,
    caching_headers,
    canonical_query,
    etag_for,
    not_modified,
)
from bawaba.serving.deps import AppServices, ReadableDataset, base_url
from bawaba.serving.downloads import FORMATS
from bawaba.serving.library import Published, release_history
from bawaba.serving.paging import page
from bawaba.serving.problems import GATE, BadParameter, problems
from bawaba.serving.query import (
    Rows,
    compile_changes,
    compile_changes_count,
    parse_columns,
    parse_filters,
    parse_order,
)
from bawaba.serving.query_string import query_items
from bawaba.serving.state import Services

router = APIRouter(prefix=documents.API, tags=["changes"], responses=GATE)

CHANGES_PARAMETERS = frozenset({"since", "select", "order", "limit", "cursor"})
CHANGES_DOWNLOAD_PARAMETERS = frozenset({"since", "select", "order"})
ATOM = "application/atom+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"

Since = Annotated[
    str | None,
    Query(
        # Required, but checked by the handler after access: a caller without a key hears
        # 401 first, and one without `since` is told the versions kept.
        json_schema_extra=REQUIRED,
        description="The version to compare with (one of the dataset's /versions). "
        "The answer holds the cells this version did not have, had with other values, or "
        "had and the current version has not.",
        examples=["v1"],
    ),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error(
        "No `since`, a filter on an unknown column, a value of the wrong type, or a `since` "
        "version older than a column of the dataset (`not-comparable`, with the versions "
        "that can be compared).",
        "bad-parameter",
        "since: give the version to compare with",
        "the versions kept are: v2, v1 (current: v2)",
    ),
    401: _error(
        "A premium dataset, and no key (or a key that is not valid).",
        "unauthorized",
        "'payer-mix' is a premium dataset: it needs a key",
        "premium data needs a key: subscribe to a plan (see /plans)",
    ),
    404: _error(
        "No such dataset, nothing published yet, or `since` names a version that is not kept "
        "(`no-such-version`; the hint lists those that are).",
        "no-such-version",
        "dataset 'epay-monthly' has no version 'v9'",
        "the versions kept are: v2, v1 (current: v2)",
    ),
    **problems(403, 503),
    **NOT_MODIFIED,
}


class ChangesPage(BaseModel):
    """One page of the cells changed since a version, each row led by its ``change``
    (added, revised or removed)."""

    dataset: str
    since: str
    """The version compared with."""
    version: str
    """The version the rows are from (the current one when the first page was read)."""
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    """Changed rows matching the filters, on every page."""
    offset: int
    limit: int
    next_cursor: str | None
    next: str | None


class ReleaseDataset(BaseModel):
    version: str
    status: str
    """``new``: this release published the version; ``unchanged``: carried over."""


class ReleasePublic(BaseModel):
    release: str
    created_at: str
    current: bool
    datasets: dict[str, ReleaseDataset]


class ReleaseList(BaseModel):
    count: int
    releases: list[ReleasePublic]


def _pair(
    state: Services, dataset: Dataset, since: str | None, version: str | None
) -> tuple[Published, Published]:
    """The version to read and the one to compare it with."""
    dataset_id = dataset.id
    current = state.library.resolve(dataset_id, version)
    if since is None:
        kept = ", ".join(state.library.versions(dataset_id))
        raise BadParameter(
            "since: give the version to compare with",
            hint=f"the versions kept are: {kept} (current: {current.version})",
        )
    before = state.library.resolve(dataset_id, since)
    if not _comparable(before):
        comparable = [
            v
            for v in state.library.versions(dataset_id)
            if _comparable(state.library.resolve(dataset_id, v))
        ]
        raise BadParameter(
            f"since: version {since!r} of {dataset_id!r} does not have every column the "
            "catalog declares now, so its rows cannot be compared",
            hint=f"compare with one of: {', '.join(comparable)}",
            slug="not-comparable",
        )
    return current, before


def _comparable(published: Published) -> bool:
    """Whether the version's file has every column the catalog declares (the comparison
    reads them all by name)."""
    names = {column["name"] for column in published.manifest.schema_}
    return set(published.dataset.columns) <= names


def _rows(
    request: Request,
    dataset: Dataset,
    reserved: frozenset[str],
    select: str | None,
    order: str | None,
) -> Rows:
    return Rows(
        filters=parse_filters(dataset, query_items(request), reserved),
        columns=parse_columns(dataset, select),
        order=parse_order(order, dataset.columns),
    )


@router.get(
    "/datasets/{dataset_id}/changes",
    response_model=ChangesPage,
    summary="Cells added, revised or removed since a version",
    description="Every cell that differs between `since` and the current version, matched "
    "on the dataset's `key` (in its metadata), as JSON objects led by a `change` column: "
    "`added` (a cell `since` did not have, such as a new month), `revised` (a cell it had "
    "with other values, such as late records or a cell suppressed since; the row holds the "
    "current values) or `removed` (a cell the current version no longer has, such as one "
    "withdrawn by a corrected delivery; only its key columns are set). Upserting the added "
    "and revised rows into a copy of `since` by key and deleting the removed keys gives the "
    "current version. Paged like /records, with the same filters (a filter on a measure "
    "leaves removed rows out, as their measures are empty), `select` (`change` is always "
    "first) and `order`. `since` equal to the current version answers no rows. The same "
    "rows as files: /changes.csv, .json, .parquet. Premium datasets need a key (401 "
    "without).",
    openapi_extra=FILTERS | KEY_OPTIONAL,
    responses=ERRORS,
)
async def read_changes(
    request: Request,
    dataset: ReadableDataset,
    state: AppServices,
    since: Since = None,
    select: Select = None,
    order: Order = None,
    limit: Annotated[
        int | None,
        Query(description="Rows per page: 100 unless given, at most 10,000.", examples=[100]),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(description="Where the page starts: the `next_cursor` of the page before."),
    ] = None,
) -> Response:
    items = query_items(request)
    query_id = cursors.query_of(dataset.id, "changes", items, ignore=frozenset({"cursor", "limit"}))
    version: str | None = None
    offset = 0
    if cursor is not None:
        at = cursors.decode(cursor)
        cursors.check(at, query_id, None)
        version, offset = at.version, at.offset
    published, before = _pair(state, dataset, since, version)
    rows = _rows(request, dataset, CHANGES_PARAMETERS, select, order)
    asked = _limit(state, limit, state.settings.page_rows)
    page_size = rows_allowed(request, asked)
    kind = f"changes-since-{before.version}" + (f";cut={page_size}" if page_size < asked else "")
    etag = etag_for(published, kind, canonical_query(items))
    headers = caching_headers(published, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)

    def compute() -> dict[str, Any]:
        old = str(before.path)
        queries = (
            compile_changes(dataset, rows, old, limit=page_size, offset=offset, plain_numbers=True),
            compile_changes_count(dataset, rows, old),
        )
        found = page(
            request,
            state.engine,
            published,
            queries,
            "changes",
            offset=offset,
            page_size=page_size,
            query_id=query_id,
            dropped=("cursor",),
        )
        return {
            "dataset": dataset.id,
            "since": before.version,
            "version": published.version,
        } | found

    document = await run_in_threadpool(compute)
    request.state.rows = len(document["rows"])
    return json_response(document, headers)


@router.get(
    "/datasets/{dataset_id}/changes.{fmt}",
    summary="Cells added, revised or removed since a version, as a file",
    description="The rows of /changes?since= (each led by its `change`: added, revised or "
    "removed) in one CSV, JSON (an array of objects) or Parquet file, with the same "
    "filters, `select` and `order` and no row cap.",
    openapi_extra=FILTERS | KEY_OPTIONAL,
    response_class=FileResponse,
    responses=ERRORS | FILE_ANSWERS,
)
async def download_changes(
    request: Request,
    dataset: ReadableDataset,
    state: AppServices,
    fmt: Annotated[
        str,
        Path(description="csv, json or parquet.", examples=["csv"], json_schema_extra=FORMAT_ENUM),
    ],
    since: Since = None,
    select: Select = None,
    order: Order = None,
) -> Response:
    published, before = _pair(state, dataset, since, None)
    if fmt not in FORMATS:
        raise BadParameter(
            f"no changes format {fmt!r}",
            hint="the formats are: " + ", ".join(f"changes.{f}" for f in FORMATS),
        )
    format_ = FORMATS[fmt]
    rows = _rows(request, dataset, CHANGES_DOWNLOAD_PARAMETERS, select, order)
    items = query_items(request)
    etag = etag_for(published, f"changes.{fmt}", canonical_query(items))
    headers = caching_headers(published, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    old = str(before.path)
    if principal(request) is not None:
        count = await run_in_threadpool(
            state.engine.scalar,
            published.path,
            compile_changes_count(dataset, rows, old),
            "count",
        )
        assert isinstance(count, int)
        require_export(request, dataset, count)
        rows_allowed(request, count, whole=True)
        request.state.rows = count
    name = f"{dataset.id}-{published.version}-since-{before.version}.{format_.extension}"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    changed = compile_changes(dataset, rows, old)
    return await run_in_threadpool(
        state.downloads.answer, published, rows, format_, etag, headers, changed
    )


def _release_list(state: Services) -> ReleaseList:
    library = state.library
    current = library.release()
    entries = release_history(library)
    return ReleaseList(
        count=len(entries),
        releases=[
            ReleasePublic(
                release=e.release,
                created_at=e.created_at,
                current=current is not None and e.release == current.release,
                datasets={
                    d: ReleaseDataset(version=v, status=s) for d, (v, s) in e.datasets.items()
                },
            )
            for e in entries
        ],
    )


@router.get(
    "/releases",
    response_model=ReleaseList,
    responses={200: {"content": {ATOM: {"schema": {"type": "string"}}}}},
    summary="Releases, newest first",
    description="Every release the kept versions still tell of: its id, when it was made, "
    "and per dataset its version and whether the release published it (`new`) or carried "
    "it over (`unchanged`). Also as an Atom feed: /releases.atom, or this path with "
    "`Accept: application/atom+xml`.",
)
def list_releases(request: Request, state: AppServices) -> Response:
    listing = _release_list(state)
    if ATOM in request.headers.get("accept", ""):
        return Response(_atom(listing, base_url(request)), media_type=ATOM)
    return json_response(listing.model_dump(mode="json"))


@router.get(
    "/releases.atom",
    summary="Releases as an Atom feed",
    description="One entry per release, newest first, naming the datasets it published "
    "with their new versions and links to what changed since the version before.",
    response_class=Response,
    responses={
        200: {"content": {ATOM: {"schema": {"type": "string"}}}, "description": "An Atom 1.0 feed."}
    },
)
def read_releases_feed(request: Request, state: AppServices) -> Response:
    return Response(_atom(_release_list(state), base_url(request)), media_type=ATOM)


def _atom(listing: ReleaseList, base: str) -> bytes:
    """The feed, built as a tree: every text is escaped by the serialiser."""
    ET.register_namespace("", ATOM_NS)

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    add(feed, "id", f"{base}{documents.API}/releases")
    add(feed, "title", "Bawaba releases")
    add(feed, "link", href=f"{base}{documents.API}/releases.atom", rel="self")
    newest = listing.releases[0].created_at if listing.releases else "1970-01-01T00:00:00+00:00"
    add(feed, "updated", newest)
    add(add(feed, "author"), "name", "Bawaba")
    for release in listing.releases:
        entry = add(feed, "entry")
        add(entry, "id", f"{base}{documents.API}/releases#{release.release}")
        fresh = {d: r.version for d, r in release.datasets.items() if r.status == "new"}
        add(entry, "title", f"Release {release.release}: {len(fresh)} new version(s)")
        add(entry, "updated", release.created_at)
        add(entry, "link", href=f"{base}{documents.API}/releases", rel="alternate")
        lines = []
        for dataset, version in fresh.items():
            number = int(version[1:])
            line = f"{dataset} {version}"
            if number > 1:
                line += (
                    f": changes at {base}{documents.API}/datasets/{dataset}/changes"
                    f"?since=v{number - 1}"
                )
            lines.append(line)
        add(entry, "content", "\n".join(lines) or "no new versions", type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
