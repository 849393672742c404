"""``datastore_search``: CKAN's DataStore read path over a published dataset version.

Every parameter becomes part of a ``Rows`` query for the open API's compiler, so this path
has the same column allow-list, typed values and bound parameters as ``/records``: no text
from the request reaches SQL. ``filters`` map to equality (or ``in`` for a list), ``q`` to
the compiler's full-text words, ``sort`` to its order (with its total tie-break, so pages
never overlap), ``fields`` to its columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from bawaba.catalog.model import Dataset
from bawaba.ecosystem.ckan.dicts import RESOURCE_FORMATS, resource_id
from bawaba.ecosystem.ckan.envelope import NotFoundError, ValidationError
from bawaba.ecosystem.ckan.params import DatastoreSearch
from bawaba.serving.access import require_read
from bawaba.serving.problems import BadParameter
from bawaba.serving.query import (
    Filter,
    Rows,
    Search,
    coerce,
    compile_count,
    compile_rows,
    parse_columns,
    parse_order,
    parse_search,
)
from bawaba.serving.state import services

FIELD_TYPES = {
    "string": "text",
    "integer": "int",
    "decimal": "numeric",
    "boolean": "bool",
    "date": "date",
}
"""Catalog type -> DataStore (PostgreSQL) type name, as CKAN reports columns."""
RECORDS_FORMATS = ("objects", "lists")


@contextmanager
def about(parameter: str) -> Iterator[None]:
    """A compiler refusal while reading ``parameter`` is CKAN's Validation Error for it."""
    try:
        yield
    except BadParameter as error:
        detail = f"{error.message} ({error.hint})" if error.hint else error.message
        raise ValidationError({parameter: [detail]}) from None


def dataset_of(request: Request, resource: str) -> Dataset:
    """The dataset behind a resource id (``<dataset>-<format>``) or a dataset id."""
    catalog = services(request).library.catalog
    candidates = [resource]
    candidates += [resource.removesuffix(f"-{fmt}") for fmt in RESOURCE_FORMATS]
    for candidate in candidates:
        try:
            return catalog.dataset(candidate)
        except KeyError:
            continue
    raise NotFoundError(
        f"Resource {resource!r} was not found; resources are named "
        f"<dataset>-<format>, e.g. {resource_id(catalog.datasets[0], 'csv')!r}"
    )


def _value(dataset: Dataset, column: str, value: object) -> object:
    """A JSON value of a filter as the column's type; GET filters arrive as text already."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise ValidationError({"filters": [f"{column!r}: give a value or a list of values"]})
    return coerce(dataset.field(column), text, f"filters.{column}")


def _filters(dataset: Dataset, given: dict[str, Any]) -> tuple[Filter, ...]:
    filters = []
    for column, value in given.items():
        if column not in dataset.columns:
            raise ValidationError(
                {
                    "filters": [
                        f"field {column!r} not in table; the columns are: "
                        + ", ".join(dataset.columns)
                    ]
                }
            )
        if isinstance(value, list):
            if not value:
                raise ValidationError({"filters": [f"{column!r}: the list of values is empty"]})
            values = tuple(_value(dataset, column, v) for v in value)
            filters.append(Filter(column, "in", values))
        else:
            filters.append(Filter(column, "eq", (_value(dataset, column, value),)))
    return tuple(filters)


def _search(dataset: Dataset, q: str | dict[str, str]) -> tuple[Search, ...]:
    if isinstance(q, str):
        return parse_search(dataset, q)
    found: list[Search] = []
    for column, text in q.items():
        found += parse_search(dataset, text, [column])
    return tuple(found)


def _order(dataset: Dataset, sort: str) -> str:
    """CKAN's ``col desc, col2`` as the compiler's ``-col,col2``."""
    parts = []
    for part in (p.strip() for p in sort.split(",")):
        if not part:
            continue
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise ValidationError({"sort": [f"{part!r}: the direction is asc or desc"]})
        parts.append(("-" if direction == "desc" else "") + name.strip('"'))
    return ",".join(parts)


def _field(dataset: Dataset, name: str) -> dict[str, Any]:
    field = dataset.field(name)
    return {
        "id": name,
        "type": FIELD_TYPES[field.type],
        "info": {
            "label": field.title.en,
            "notes": field.description.en,
            "label_ar": field.title.ar,
            "notes_ar": field.description.ar,
            "unit": field.unit,
        },
    }


def _link(path: str, params: DatastoreSearch, offset: int | None) -> str:
    query: dict[str, object] = {"resource_id": params.resource_id}
    if "limit" in params.model_fields_set:
        query["limit"] = params.limit
    if offset:
        query["offset"] = offset
    return f"{path}?{urlencode(query)}"


async def datastore_search(request: Request, params: DatastoreSearch, path: str) -> dict[str, Any]:
    """CKAN's datastore_search result; ``path`` is the action's own path, for ``_links``."""
    state = services(request)
    dataset = dataset_of(request, params.resource_id)
    # Who may read comes before what was asked: a refused caller learns nothing more.
    require_read(request, dataset)
    if params.records_format not in RECORDS_FORMATS:
        raise ValidationError({"records_format": [f"give one of: {', '.join(RECORDS_FORMATS)}"]})
    with about("filters"):
        filters = _filters(dataset, params.filters)
    with about("q"):
        search = _search(dataset, params.q)
    with about("fields"):
        columns = parse_columns(dataset, ",".join(params.fields))
    with about("sort"):
        order = parse_order(_order(dataset, params.sort), dataset.columns, "sort")
    with about("filters"):
        rows = Rows(filters=filters, columns=columns, order=order, search=search)
    # CKAN caps a page at ckan.datastore.search.rows_max without complaint; so does this.
    limit = min(params.limit, state.settings.max_page_rows)
    published = state.library.resolve(dataset.id)

    def run() -> tuple[list[str], list[tuple[object, ...]], int | None]:
        names, found = state.engine.rows(
            published.path,
            compile_rows(dataset, rows, limit=limit, offset=params.offset, plain_numbers=True),
            "records",
        )
        total = None
        if params.include_total:
            counted = state.engine.scalar(published.path, compile_count(rows), "count")
            assert isinstance(counted, int)
            total = counted
        return names, found, total

    names, found, total = await run_in_threadpool(run)
    records: list[Any] = (
        [dict(zip(names, row, strict=True)) for row in found]
        if params.records_format == "objects"
        else [list(row) for row in found]
    )
    result: dict[str, Any] = {
        "resource_id": params.resource_id,
        "fields": [_field(dataset, name) for name in names],
        "records": records,
        "records_format": params.records_format,
        "limit": limit,
        "offset": params.offset,
        "filters": params.filters,
        "sort": params.sort,
        "version": published.version,
        "_links": {
            "start": _link(path, params, None),
            "next": _link(path, params, params.offset + limit),
        },
    }
    if params.q:
        result["q"] = params.q
    if total is not None:
        result["total"] = total
        result["total_was_estimated"] = False
    return result
