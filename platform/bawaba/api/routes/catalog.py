"""The catalog paths: what datasets there are, their dictionaries and their versions."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from bawaba.api.models import DatasetDetail, DatasetList, VersionList
from bawaba.api.security import KEY_OPTIONAL
from bawaba.publish.disclosure_report import DisclosureReport
from bawaba.serving import documents, search
from bawaba.serving.deps import AppServices, KnownDataset, ReadableDataset, base_url
from bawaba.serving.problems import GATE, JSON, BadParameter, Problem, problems

router = APIRouter(prefix=documents.API, tags=["catalog"], responses=GATE)

VersionId = Annotated[
    str,
    Path(description="A version of the dataset, as listed by its /versions.", examples=["v1"]),
]


def _error(description: str, code: str, message: str, hint: str) -> dict[str, object]:
    """An error response for the OpenAPI document, in the API's one error shape."""
    example = {"error": {"code": code, "message": message, "hint": hint}}
    return {"model": Problem, "description": description, "content": {JSON: {"example": example}}}


def json_response(document: object, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), media_type=JSON, headers=headers)


@router.get(
    "/datasets",
    response_model=DatasetList,
    responses=problems(400),
    summary="List and search the datasets",
    description="Every dataset of the catalog, open and premium, with its current version and "
    "links. Premium datasets are listed with `tier: premium`: their metadata is public, their "
    "data needs a key. Filters combine (all must hold).",
)
def list_datasets(
    request: Request,
    state: AppServices,
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
    response_model=DatasetDetail,
    responses=problems(404),
    summary="A dataset's metadata and data dictionary",
    description="Titles and descriptions in English and Arabic, licence, grain, the data "
    "dictionary (every column's role, type, unit, code list and meaning), the privacy rules "
    "it was published under, its versions and links to its data.",
)
def get_dataset(request: Request, dataset: KnownDataset, state: AppServices) -> Response:
    return json_response(
        documents.detail(state.library.catalog, state.library, dataset, base_url(request))
    )


@router.get(
    "/datasets/{dataset_id}/versions",
    response_model=VersionList,
    responses=problems(404),
    summary="A dataset's readable versions",
    description="Newest first. Every data path takes `?version=` to read one of these; a "
    "version never changes once published.",
)
def list_versions(request: Request, dataset: KnownDataset, state: AppServices) -> Response:
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


@router.get(
    "/datasets/{dataset_id}/versions/{version}/disclosure",
    response_model=DisclosureReport,
    openapi_extra=KEY_OPTIONAL,
    summary="How a version's cells are protected",
    description="The public disclosure report of one version: the rules its cells were held "
    "to (k distinct payers, the p% rule and whom it compares, the table's restriction, the "
    "dimensions crossed), the other datasets the suppression audit treated as known together "
    "with it and the coordinates on which their sums meet, the side information the audit "
    "assumes a reader has (in English and Arabic), how many cells were suppressed as "
    "sensitive on their own (primary) and to protect those (secondary), and that the audit "
    "passed. It never holds a measure value, an interval or a cell's coordinates. Reference "
    "data answers `controlled: false` with the reason. A premium dataset's report needs a "
    "key whose plan reads the dataset, like its data.",
    responses={
        401: _error(
            "A premium dataset, and no key (or a key that is not valid).",
            "unauthorized",
            "'payer-mix' is a premium dataset: it needs a key",
            "premium data needs a key: subscribe to a plan (see /plans)",
        ),
        403: _error(
            "The key's plan does not include this premium dataset.",
            "forbidden",
            "the 'developer' plan does not include 'payer-mix'",
            "the plans that include it are: business, enterprise",
        ),
        404: _error(
            "No such dataset (`not-found`), no published version yet (`not-published`), no "
            "such version kept (`no-such-version`), or a version published before disclosure "
            "reports were introduced (`no-disclosure-report`).",
            "no-disclosure-report",
            "dataset 'epay-monthly' version 'v1' has no disclosure report: it was published "
            "before disclosure reports were introduced",
            "the versions published since then have one; see "
            "/api/v1/datasets/epay-monthly/versions",
        ),
    },
)
def read_disclosure_report(
    dataset: ReadableDataset, state: AppServices, version: VersionId
) -> Response:
    published = state.library.resolve(dataset.id, version)
    return json_response(state.library.disclosure(published).model_dump(mode="json"))
