"""``/api/v1/datasets/{id}/datapackage.json``: a dataset version as a Frictionless Tabular
Data Package, so ``frictionless validate``, Data Package readers and loaders can use it.

The Table Schema comes from catalog.yaml: types, titles and descriptions (English as the
standard properties, Arabic under ``translations``), units, code lists as ``enum``
constraints, and the time and dimension columns as the primary key. Resources are the
version's CSV and Parquet downloads, pinned to the version (``?version=``), so the package
keeps describing the same bytes after the next publish.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic import Field as Attr
from starlette.responses import Response

from bawaba.catalog.model import Catalog, Dataset, Field
from bawaba.ecosystem.catalog_entries import DOWNLOADS, Entry, entry
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference
from bawaba.serving.caching import NOT_MODIFIED, caching_headers, etag_for, not_modified
from bawaba.serving.deps import AppServices, KnownDataset, base_url
from bawaba.serving.documents import API
from bawaba.serving.problems import GATE, JSON, problems

TYPES = {
    "string": "string",
    "integer": "integer",
    "decimal": "number",
    "boolean": "boolean",
    "date": "date",
}
"""Catalog type -> Table Schema type."""

router = APIRouter(prefix=API, tags=["catalog"], responses=GATE)


class DataPackage(BaseModel):
    """A Frictionless Tabular Data Package (https://specs.frictionlessdata.io/); the
    properties past the standard ones are Bawaba's."""

    model_config = ConfigDict(extra="allow")

    profile: Literal["tabular-data-package"]
    name: str
    id: str
    title: str
    description: str
    version: str
    created: str
    licenses: list[dict[str, Any]]
    tier: str
    rows: int
    resources: list[dict[str, Any]] = Attr(description="The CSV and Parquet downloads.")


def _translations(title: str, description: str) -> dict[str, Any]:
    return {"ar": {"title": title, "description": description}}


def field_descriptor(field: Field) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "name": field.name,
        "type": TYPES[field.type],
        "title": field.title.en,
        "description": field.description.en,
        "translations": _translations(field.title.ar, field.description.ar),
        "role": field.role,
    }
    if field.unit is not None:
        descriptor["unit"] = field.unit
    constraints: dict[str, Any] = {}
    if field.role in ("time", "dimension"):
        constraints["required"] = True
    if field.code_list is not None:
        constraints["enum"] = sorted(code_set(load_reference(), field.code_list))
    if constraints:
        descriptor["constraints"] = constraints
    return descriptor


def table_schema(dataset: Dataset) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "fields": [field_descriptor(f) for f in dataset.fields],
        "missingValues": [""],
    }
    key = [f.name for f in dataset.by_role("time", "dimension")]
    if key:
        schema["primaryKey"] = key
    return schema


def _resource(found: Entry, extension: str, schema: dict[str, Any]) -> dict[str, Any]:
    download = next(d for d in DOWNLOADS if d.extension == extension)
    resource: dict[str, Any] = {
        "name": f"{found.dataset.id}-{extension}",
        "profile": "tabular-data-resource",
        "title": f"{found.dataset.title.en} ({download.label})",
        "path": found.download_url(extension, pinned=True),
        "format": extension,
        "mediatype": download.media_type,
        "schema": schema,
    }
    if extension == "csv":
        resource |= {"encoding": "utf-8", "dialect": {"delimiter": ",", "header": True}}
    # No `bytes` or `hash` for Parquet, though the manifest knows both: Frictionless reads
    # Parquet through pyarrow, not as a byte stream, so it cannot check them and reports
    # a declared one as a mismatch. DCAT and CKAN give them.
    return resource


def data_package(catalog: Catalog, found: Entry) -> dict[str, Any]:
    dataset = found.dataset
    licence = catalog.licences[dataset.licence]
    schema = table_schema(dataset)
    # Frictionless reads Parquet through pandas, which turns the nulls of an integer column
    # into NaN; the Parquet resource names "nan" as missing so those cells read as empty.
    parquet_schema = {**schema, "missingValues": ["", "nan"]}
    return {
        "profile": "tabular-data-package",
        "name": dataset.id,
        "id": found.page,
        "title": dataset.title.en,
        "description": dataset.description.en,
        "translations": _translations(dataset.title.ar, dataset.description.ar),
        "version": found.version,
        "created": found.modified,
        "homepage": found.page,
        "keywords": list(dataset.topics),
        "licenses": [{"name": dataset.licence, "title": licence.title, "path": licence.url}],
        "sources": [{"title": catalog.publisher.en}],
        "contributors": [{"title": catalog.publisher.en, "role": "publisher"}],
        "tier": dataset.tier,
        "rows": found.rows,
        "resources": [
            _resource(found, "csv", schema),
            _resource(found, "parquet", parquet_schema),
        ],
    }


@router.get(
    "/datasets/{dataset_id}/datapackage.json",
    response_model=DataPackage,
    responses={**NOT_MODIFIED, **problems(404)},
    summary="A dataset version as a Frictionless Data Package",
    description="A Tabular Data Package: the Table Schema (types, units, English and Arabic "
    "titles and descriptions, code lists as enum constraints, primary key), the licence, and "
    "the version's CSV and Parquet downloads as resources. Metadata is public for premium "
    "datasets too; their downloads need a key.",
)
def read_datapackage(
    request: Request,
    dataset: KnownDataset,
    state: AppServices,
    version: Annotated[
        str | None,
        Query(
            description="Describe this version (see /versions) instead of the current one.",
            examples=["v1"],
        ),
    ] = None,
) -> Response:
    published = state.library.resolve(dataset.id, version)
    etag = etag_for(published, "datapackage", base_url(request))
    headers = caching_headers(published, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    found = entry(state.library, published.dataset, base_url(request), published.version)
    document = data_package(state.library.catalog, found)
    return Response(orjson.dumps(document), media_type=JSON, headers=headers)
