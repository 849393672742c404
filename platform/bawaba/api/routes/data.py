"""The data paths: records, aggregates and downloads of a dataset version.

Each path does the cheap work on the event loop (parse, resolve the version, ETag, the
answer cache) and sends a cache miss to a worker thread for DuckDB, unless the version is
small enough to be answered from memory in about a millisecond (``Engine.quick``) and the
query cheap enough (``Cost.quick``): no request can hold the event loop for long.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from bawaba.api.models import AggregateAnswer, RecordsPage
from bawaba.api.quota import rows_allowed
from bawaba.api.security import KEY_OPTIONAL
from bawaba.serving import cursors, documents
from bawaba.serving.access import principal, require_export
from bawaba.serving.caching import (
    NOT_MODIFIED,
    caching_headers,
    canonical_query,
    etag_for,
    not_modified,
)
from bawaba.serving.deps import DatasetId, base_url, dataset_to_read
from bawaba.serving.downloads import FORMATS
from bawaba.serving.library import Published
from bawaba.serving.paging import page
from bawaba.serving.parameters import QueryParameters
from bawaba.serving.problems import GATE, JSON, BadParameter, problems
from bawaba.serving.query import (
    DOWNLOAD_PARAMETERS,
    OPERATORS,
    RECORDS_PARAMETERS,
    Aggregate,
    Cost,
    Rows,
    compile_aggregate,
    compile_count,
    compile_rows,
    parse_aggregate,
    parse_columns,
    parse_filters,
    parse_order,
)
from bawaba.serving.query_string import query_items
from bawaba.serving.state import Services, services

router = APIRouter(prefix=documents.API, tags=["data"], responses=GATE)

DATA_ERRORS = {
    **NOT_MODIFIED,
    **problems(
        400,
        403,
        404,
        503,
        s400="A filter, `select`, `order`, `limit` or other parameter is not valid: the "
        "message names it, the hint lists what is valid (the dataset's columns, operators).",
        s404="No such dataset, nothing published yet, or no such version kept.",
    ),
}
"""Every data path's answers besides 200, on top of the gatekeeper's."""
FILE_TYPES = {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {
        "schema": {"type": "array", "items": {"type": "object", "additionalProperties": True}}
    },
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}
FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file, by the format in the path.", "content": FILE_TYPES},
    206: {"description": "The part a `Range` header asked for.", "content": FILE_TYPES},
    **problems(416),
}
FORMAT_ENUM = {"enum": list(FORMATS)}

FILTERS = {
    "parameters": [
        {
            "name": "filters",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": True,
            "description": "Filters on any column of the dataset: `col=value` for equality, "
            "`col__op=value` with op one of " + ", ".join(f"`{o}`" for o in OPERATORS) + ". "
            "`in` takes comma-separated values; `contains` (text only) ignores case. Values "
            "are typed by the column (integer, decimal, date as 2013-03-31, true/false). "
            "Every filter must hold.",
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            "example": {"department": "RTA", "year__gte": "2013"},
        }
    ]
}

Version = Annotated[
    str | None,
    Query(
        description="Read this version (see /versions) instead of the current one.",
        examples=["v1"],
    ),
]
Select = Annotated[
    str | None,
    Query(
        description="Comma-separated columns to return, in this order (default: all).",
        examples=["year,department,amount_aed"],
    ),
]
Order = Annotated[
    str | None,
    Query(
        description="Comma-separated columns to order by; `-col` for descending. Ties are "
        "broken by the dataset's key, so the order is total.",
        examples=["-amount_aed,department"],
    ),
]


class RecordsParameters(QueryParameters):
    select: Select = None
    order: Order = None
    limit: int | None = Field(
        None, description="Rows per page: 100 unless given, at most 10,000.", examples=[100]
    )
    cursor: str | None = Field(
        None, description="Where the page starts: the `next_cursor` of the page before."
    )
    version: Version = None


class AggregateParameters(QueryParameters):
    group_by: str | None = Field(
        None,
        description="Comma-separated columns to group by (none: one row for all).",
        examples=["department,year"],
    )
    measures: str | None = Field(
        None,
        description="Comma-separated measures (default `count`).",
        examples=["count,sum(amount_aed),avg(payers)"],
    )
    order: str | None = Field(
        None,
        description="Order by output columns (group columns or measure names); `-` for descending.",
        examples=["-sum_amount_aed"],
    )
    limit: int | None = Field(
        None,
        description="Most groups returned: 10,000 unless given; `truncated` says if there "
        "were more.",
        examples=[100],
    )
    version: Version = None


class DownloadParameters(QueryParameters):
    select: Select = None
    order: Order = None
    version: Version = None


def _documented(parameters: type[QueryParameters]) -> dict[str, Any]:
    """A data path's ``openapi_extra``: its named parameters, its filters, its credentials."""
    return {"parameters": [*parameters.openapi_parameters(), *FILTERS["parameters"]]} | KEY_OPTIONAL


def _limit(state: Services, limit: int | None, default: int) -> int:
    ceiling = state.settings.max_page_rows
    if limit is None:
        return min(default, ceiling)
    if not 1 <= limit <= ceiling:
        raise BadParameter(f"limit: {limit} is out of range", hint=f"give 1 to {ceiling}")
    return limit


async def _json_answer(
    request: Request,
    state: Services,
    published: Published,
    kind: str,
    compute: Callable[[], dict[str, Any]],
    cost: Cost,
    cut_to: int | None = None,
) -> Response:
    """Shared by records and aggregate: ETag, 304, answer cache, then ``compute``. The rows
    answered are left on ``request.state`` for metering. ``cut_to``: the rows a row quota
    left, when fewer than asked (another answer than the uncut one, so another ETag)."""
    query = canonical_query(query_items(request))
    if cut_to is not None:
        kind = f"{kind};cut={cut_to}"
    etag = etag_for(published, kind, f"{base_url(request)}?{query}")
    headers = caching_headers(published, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    cached = state.answers.get(etag)
    state.metrics.answer_cache.labels("hit" if cached is not None else "miss").inc()
    if cached is None:
        if cost.quick and state.engine.quick(published.path):
            document = compute()
        else:
            document = await run_in_threadpool(compute)
        cached = orjson.dumps(document), len(document["rows"])
        state.answers.put(etag, *cached)
    body, request.state.rows = cached
    return Response(body, media_type=JSON, headers=headers)


@router.get(
    "/datasets/{dataset_id}/records",
    response_model=RecordsPage,
    responses=DATA_ERRORS,
    summary="Rows of a dataset, filtered, ordered and paged",
    description="Rows as JSON objects with the total number of matching rows. Follow "
    "`next` (or pass `next_cursor` as `cursor`) for the next page: a cursor stays on the "
    "version its first page read. Premium datasets need a key (401 without).",
    openapi_extra=_documented(RecordsParameters),
)
async def records(request: Request, dataset_id: DatasetId) -> Response:
    state = services(request)
    dataset = dataset_to_read(request, state, dataset_id)
    items = query_items(request)
    asked = RecordsParameters.read(items)
    rows = Rows(
        filters=parse_filters(dataset, items, RECORDS_PARAMETERS),
        columns=parse_columns(dataset, asked.select),
        order=parse_order(asked.order, dataset.columns),
    )
    wanted = _limit(state, asked.limit, state.settings.page_rows)
    # A page's cursors carry its query's fingerprint, needed only to check a cursor or
    # to give one out: never on a cached answer without a cursor.
    query_id = functools.partial(
        cursors.query_of, dataset.id, "records", items, frozenset({"cursor", "limit", "version"})
    )
    version, offset = asked.version, 0
    if asked.cursor is not None:
        at = cursors.decode(asked.cursor)
        cursors.check(at, query_id(), version)
        version, offset = at.version, at.offset
    published = state.library.resolve(dataset.id, version)
    page_size = rows_allowed(request, wanted)

    def compute() -> dict[str, Any]:
        queries = (
            compile_rows(dataset, rows, limit=page_size, offset=offset, plain_numbers=True),
            compile_count(rows),
        )
        found = page(
            request,
            state.engine,
            published,
            queries,
            "records",
            offset=offset,
            page_size=page_size,
            query_id=query_id(),
            dropped=("cursor", "version"),
        )
        return {"dataset": dataset.id, "version": published.version} | found

    cut = page_size if page_size < wanted else None
    return await _json_answer(request, state, published, "records", compute, rows.cost, cut)


@router.get(
    "/datasets/{dataset_id}/aggregate",
    response_model=AggregateAnswer,
    responses=DATA_ERRORS,
    summary="Group a dataset's rows and measure them",
    description="`group_by` columns with `measures` over the filtered rows: `count` (rows), "
    "`count(col)` (rows where col is set), `sum(col)`, `avg(col)`, `min(col)`, `max(col)`. A "
    "measure's column in the answer is named `function_column` (e.g. `sum_amount_aed`). "
    "Suppressed cells have empty measures and are left out of sums and averages.",
    openapi_extra=_documented(AggregateParameters),
)
async def aggregate(request: Request, dataset_id: DatasetId) -> Response:
    state = services(request)
    dataset = dataset_to_read(request, state, dataset_id)
    items = query_items(request)
    asked = AggregateParameters.read(items)
    query: Aggregate = parse_aggregate(
        dataset, items, group_by=asked.group_by, measures=asked.measures, order=asked.order
    )
    wanted = _limit(state, asked.limit, state.settings.max_page_rows)
    published = state.library.resolve(dataset.id, asked.version)
    most = rows_allowed(request, wanted)

    def compute() -> dict[str, Any]:
        names, found = state.engine.rows(
            published.path,
            compile_aggregate(dataset, query, limit=most + 1, plain_numbers=True),
            "aggregate",
        )
        return {
            "dataset": dataset.id,
            "version": published.version,
            "group_by": list(query.group_by),
            "measures": [m.name for m in query.measures],
            "columns": names,
            "rows": [dict(zip(names, row, strict=True)) for row in found[:most]],
            "truncated": len(found) > most,
        }

    cut = most if most < wanted else None
    return await _json_answer(request, state, published, "aggregate", compute, query.cost, cut)


@router.head(
    "/datasets/{dataset_id}/download.{fmt}", include_in_schema=False, response_class=FileResponse
)
@router.get(
    "/datasets/{dataset_id}/download.{fmt}",
    summary="Download a dataset, whole or filtered",
    description="CSV, JSON (an array of objects) or Parquet, with the same filters, `select` "
    "and `order` as /records and no row cap. Answers `HEAD` and `Range` requests, so DuckDB, "
    "Polars and pandas can read the URL directly.",
    openapi_extra=_documented(DownloadParameters),
    response_class=FileResponse,
    responses=DATA_ERRORS | FILE_ANSWERS,
)
async def download(
    request: Request,
    dataset_id: DatasetId,
    fmt: Annotated[
        str,
        Path(
            description="csv, json or parquet.", examples=["parquet"], json_schema_extra=FORMAT_ENUM
        ),
    ],
) -> Response:
    state = services(request)
    dataset = dataset_to_read(request, state, dataset_id)
    if fmt not in FORMATS:
        raise BadParameter(
            f"no download format {fmt!r}",
            hint="the formats are: " + ", ".join(f"download.{f}" for f in FORMATS),
        )
    format_ = FORMATS[fmt]
    items = query_items(request)
    asked = DownloadParameters.read(items)
    rows = Rows(
        filters=parse_filters(dataset, items, DOWNLOAD_PARAMETERS),
        columns=parse_columns(dataset, asked.select),
        order=parse_order(asked.order, dataset.columns),
    )
    published = state.library.resolve(dataset.id, asked.version)
    etag = etag_for(published, f"download.{fmt}", canonical_query(items))
    headers = caching_headers(published, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    if principal(request) is not None:
        # Rows matter only to a key: its plan's export cap and its metered usage.
        count = await run_in_threadpool(state.downloads.rows_of, published, rows, etag)
        require_export(request, dataset, count)
        rows_allowed(request, count, whole=True)
        request.state.rows = count
    seconds = state.settings.download_redirect_s
    if redirect := state.downloads.redirect_for(published, rows, format_, seconds):
        # The URL expires: no cache may keep the redirect longer than it is valid.
        return RedirectResponse(redirect, 307, {"Cache-Control": "no-store"})
    name = f"{dataset.id}-{published.version}.{format_.extension}"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return await run_in_threadpool(state.downloads.answer, published, rows, format_, etag, headers)
