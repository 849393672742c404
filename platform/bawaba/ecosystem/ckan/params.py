"""The parameters of each action, as CKAN documents them, and how a request carries them.

CKAN reads a GET's query string (a repeated key becomes a list) or a POST's JSON object;
lists and objects sent in a query string are JSON text. Parameters an action does not know
are ignored, as CKAN ignores them (``ckanapi`` sends a few of its own). A value of the
wrong type is a Validation Error naming the parameter.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic import ValidationError as PydanticError
from starlette.requests import Request

from bawaba.ecosystem.ckan.envelope import BadRequest, ValidationError
from bawaba.serving.query_string import query_items

P = TypeVar("P", bound="Parameters")

MAX_ROWS = 1000
"""Most packages in one package_search page (CKAN's ``ckan.search.rows_max``)."""

MAX_OFFSET = 2**63 - 1
"""The largest row offset: the store counts rows in 64 bits."""

MAX_DEPTH = 32
"""Deepest nesting of lists and objects a parameter may have; the deepest any action
reads is two (``filters``: an object of lists)."""


def loads(text: str | bytes) -> Any:
    """JSON text decoded, or a Bad Request naming what is wrong with it."""
    too_deep = BadRequest(
        f"JSON Error: lists and objects are nested more than {MAX_DEPTH} deep; "
        "no action takes parameters nested that deep"
    )
    try:
        data = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except ValueError as error:
        raise BadRequest(f"JSON Error: the body is not JSON ({error})") from None
    if _depth(data) > MAX_DEPTH:
        raise too_deep
    return data


def _depth(data: Any) -> int:
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo.extend(
                    (v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)
                )
    return deepest


def _json_text(value: object) -> object:
    """A list or object given as JSON text, as it must be in a query string."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return loads(value)
        except BadRequest:
            return value  # left for the type check to refuse, naming the parameter
    return value


def _names(value: object) -> object:
    """A list of names: a JSON list, or comma-separated text."""
    value = _json_text(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


JsonList = Annotated[
    list[str],
    BeforeValidator(_names),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string", "description": "Comma-separated names."},
            ]
        }
    ),
]


class Parameters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_and_booleans_apart(cls, data: Any) -> Any:
        """A JSON true or false where a number belongs, or a number where true or false
        does, is a mistake that pydantic would read as 1, 0 or a truth value: refused, by
        name. (A query string's texts, "10" or "true", are read as ever.)"""
        if not isinstance(data, dict):
            return data
        wrong: dict[str, list[str]] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or name
            value = data.get(key)
            if field.annotation in (int, int | None) and isinstance(value, bool):
                wrong[key] = [f"Invalid integer: {json.dumps(value)} is true or false"]
            elif (
                field.annotation is bool
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                wrong[key] = [f"Invalid boolean: {value} is a number; give true or false"]
        if wrong:
            raise ValidationError(wrong)
        return data


class NoParameters(Parameters):
    pass


class PackageList(Parameters):
    limit: Annotated[int | None, Field(ge=0, description="Most names returned (default: all).")] = (
        None
    )
    offset: Annotated[int, Field(ge=0, description="Names to skip, with `limit`.")] = 0


class PackageShow(Parameters):
    id: Annotated[str, Field(description="The package's id or name (both are the dataset id).")]


class PackageSearch(Parameters):
    q: Annotated[
        str,
        Field(
            description="Words that must all appear in a package (title, description, tags, "
            'columns; English or Arabic), `"a phrase"`, `field:value` terms, `-` to exclude. '
            "`*:*` matches everything."
        ),
    ] = "*:*"
    fq: Annotated[
        str,
        Field(
            description="Filter terms `field:value`, all of which must hold; fields: "
            "name, id, title, notes, tags, organization, groups, res_format, license_id, tier."
        ),
    ] = ""
    fq_list: Annotated[JsonList, Field(description="More filter terms, one query per item.")] = []
    rows: Annotated[
        int, Field(ge=0, le=MAX_ROWS, description=f"Packages per page (at most {MAX_ROWS}).")
    ] = 10
    start: Annotated[int, Field(ge=0, description="Packages to skip: the page's offset.")] = 0
    sort: Annotated[
        str,
        Field(
            description="Comma-separated `field asc|desc`; fields: score, name, "
            "title_string, metadata_modified, metadata_created."
        ),
    ] = "score desc, metadata_modified desc"
    facet: Annotated[bool, Field(description="Count facet values (`facet.field`).")] = True
    facet_field: Annotated[
        JsonList,
        Field(
            alias="facet.field",
            description="Fields to count values of: tags, organization, res_format, "
            "license_id, tier, groups (a JSON list).",
        ),
    ] = []
    facet_limit: Annotated[
        int,
        Field(alias="facet.limit", description="Most values per facet; -1 for all."),
    ] = 50
    facet_mincount: Annotated[
        int,
        Field(alias="facet.mincount", ge=0, description="Least count of a facet value shown."),
    ] = 1


class OrganizationList(Parameters):
    all_fields: Annotated[
        bool, Field(description="Whole organization objects instead of names.")
    ] = False
    sort: Annotated[
        str,
        Field(description="`name`, `title` or `package_count`, then `asc` or `desc`."),
    ] = "name asc"
    limit: Annotated[int | None, Field(ge=0, description="Most organizations returned.")] = None
    offset: Annotated[int, Field(ge=0, description="Organizations to skip.")] = 0
    organizations: Annotated[JsonList, Field(description="Only these organizations (names).")] = []
    q: Annotated[
        str, Field(description="Only organizations whose name or title contains this.")
    ] = ""


class OrganizationShow(Parameters):
    id: Annotated[str, Field(description="The organization's id or name (e.g. `rta`).")]
    include_datasets: Annotated[bool, Field(description="Add its packages (`packages`).")] = False
    include_dataset_count: Annotated[bool, Field(description="Add `package_count`.")] = True


class DatastoreSearch(Parameters):
    resource_id: Annotated[
        str,
        Field(
            description="A resource id from package_show (e.g. `epay-annual-csv`), or the "
            "dataset id itself."
        ),
    ]
    filters: Annotated[
        dict[str, Any],
        BeforeValidator(_json_text),
        Field(
            description="Column -> value (or list of values, any of which may match); "
            'a JSON object, e.g. `{"department": "RTA", "year": [2012, 2013]}`.'
        ),
    ] = {}
    q: Annotated[
        str | dict[str, str],
        BeforeValidator(_json_text),
        Field(
            description="Full-text search: words that must each appear in some column of a "
            "row; or a JSON object column -> text, each of which must appear in its column."
        ),
    ] = ""
    fields: Annotated[
        JsonList, Field(description="Columns to return, in order (default: all).")
    ] = []
    sort: Annotated[
        str,
        Field(description="Comma-separated `column asc|desc` (e.g. `year desc, department`)."),
    ] = ""
    limit: Annotated[
        int, Field(ge=0, description="Rows per page (100 unless given; capped by the server).")
    ] = 100
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0
    include_total: Annotated[bool, Field(description="Count the matching rows (`total`).")] = True
    records_format: Annotated[
        str, Field(description="`objects` (one object per row) or `lists` (one list per row).")
    ] = "objects"


class HelpShow(Parameters):
    name: Annotated[str, Field(description="An action's name, e.g. `package_search`.")]


async def request_data(request: Request) -> dict[str, Any]:
    """The action's parameters from a GET's query string or a POST's JSON (or form) body."""
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in query_items(request):
            if key in data:
                previous = data[key]
                data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                data[key] = value
        return data
    body = await request.body()
    if not body.strip():
        return {}
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    # A JSON object posted as a form (curl -d '{...}') is still that object, as in CKAN.
    if form and not body.lstrip().startswith(b"{"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    data = loads(body)
    if not isinstance(data, dict):
        raise BadRequest(
            f"Bad request data: the body decoded to a {type(data).__name__}, but it needs "
            "to be a JSON object"
        )
    return data


def parse(model: type[P], data: dict[str, Any]) -> P:
    try:
        return model.model_validate(data)
    except PydanticError as error:
        fields: dict[str, list[str]] = {}
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "__root__"
            message = "Missing value" if problem["type"] == "missing" else problem["msg"]
            fields.setdefault(name, []).append(message)
        raise ValidationError(fields) from None
