"""The catalog paths: what datasets there are, their dictionaries and their versions."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from bawaba.api import documents, search
from bawaba.api.problems import JSON, BadParameter
from bawaba.api.state import services

router = APIRouter(prefix=documents.API, tags=["catalog"])

DatasetId = Annotated[
    str,
    Path(description="The dataset's id, as listed by /api/v1/datasets.", examples=["epay-annual"]),
]


def json_response(document: object, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), media_type=JSON, headers=headers)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/datasets",
    summary="List and search the datasets",
    description="Every dataset of the catalog, open and premium, with its current version and "
    "links. Premium datasets are listed with `tier: premium`: their metadata is public, their "
    "data needs a key. Filters combine (all must hold).",
)
def list_datasets(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            description="Words that must all appear in the id, title, description or field "
            "names and titles, in English or Arabic (case-insensitive).",
            examples=["adoption"],
        ),
    ] = None,
    tier: Annotated[
        Literal["open", "premium"] | None,
        Query(description="Only datasets of this tier.", examples=["open"]),
    ] = None,
    department: Annotated[
        str | None,
        Query(
            description="Only datasets with data from this department (its code); datasets "
            "built from every department match any code.",
            examples=["RTA"],
        ),
    ] = None,
    topic: Annotated[
        str | None,
        Query(description="Only datasets on this topic.", examples=["payments"]),
    ] = None,
) -> Response:
    state = services(request)
    catalog = state.library.catalog
    if topic is not None and topic not in catalog.topics:
        raise BadParameter(
            f"topic: no topic {topic!r}", hint=f"the topics are: {', '.join(catalog.topics)}"
        )
    found = search.select(catalog, q=q, tier=tier, topic=topic, department=department)
    base = base_url(request)
    return json_response(
        {
            "count": len(found),
            "datasets": [documents.summary(catalog, state.library, d, base) for d in found],
        }
    )


@router.get(
    "/datasets/{dataset_id}",
    summary="A dataset's metadata and data dictionary",
    description="Titles and descriptions in English and Arabic, licence, grain, the data "
    "dictionary (every column's role, type, unit, code list and meaning), the privacy rules "
    "it was published under, its versions and links to its data.",
)
def get_dataset(request: Request, dataset_id: DatasetId) -> Response:
    state = services(request)
    dataset = state.library.dataset(dataset_id)
    return json_response(
        documents.detail(state.library.catalog, state.library, dataset, base_url(request))
    )


@router.get(
    "/datasets/{dataset_id}/versions",
    summary="A dataset's readable versions",
    description="Newest first. Every data path takes `?version=` to read one of these; a "
    "version never changes once published.",
)
def list_versions(request: Request, dataset_id: DatasetId) -> Response:
    state = services(request)
    dataset = state.library.dataset(dataset_id)
    base = base_url(request)
    return json_response(
        {
            "dataset": dataset.id,
            "current_version": state.library.current_version(dataset.id),
            "versions": [
                documents.version_document(state.library, dataset, v, base)
                for v in state.library.versions(dataset.id)
            ],
        }
    )
