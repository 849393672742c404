"""``/data.json``: the catalog in DCAT-US 1.1 (the Project Open Data metadata schema), the
format data.gov and many CKAN harvesters read.

DCAT-US is a profile for US federal agencies, and two of its required fields are US budget
codes (``bureauCode``, ``programCode``). Bawaba is not a US agency; it gives the all-zero
codes, which the schema's patterns admit and which say "no federal bureau or programme".
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from bawaba.catalog.model import Catalog
from bawaba.ecosystem.catalog_entries import (
    DOWNLOADS,
    FREQUENCIES,
    Entry,
    licence_url,
    published_entries,
    rights_statement,
)
from bawaba.serving.deps import AppServices, base_url
from bawaba.serving.problems import GATE

SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
NO_FEDERAL_BUREAU = "000:00"
NO_FEDERAL_PROGRAM = "000:000"
SPATIAL = "Dubai, United Arab Emirates"

router = APIRouter(tags=["catalog metadata"], responses=GATE)


def _distributions(entry: Entry) -> list[dict[str, Any]]:
    title = entry.dataset.title.en
    found: list[dict[str, Any]] = [
        {
            "@type": "dcat:Distribution",
            "title": f"{title} ({download.label})",
            "description": f"The whole dataset, current version, as {download.label}.",
            "downloadURL": entry.download_url(download.extension),
            "mediaType": download.media_type,
            "format": download.label,
            "describedBy": entry.datapackage_url,
            "describedByType": "application/json",
        }
        for download in DOWNLOADS
    ]
    found.append(
        {
            "@type": "dcat:Distribution",
            "title": f"{title} (JSON API)",
            "description": "Filtered, sorted and paged rows, and aggregates, as JSON.",
            "accessURL": f"{entry.page}/records",
            "format": "API",
            "describedBy": f"{entry.base}/openapi.json",
            "describedByType": "application/json",
        }
    )
    return found


def dataset_document(catalog: Catalog, entry: Entry, contact_email: str) -> dict[str, Any]:
    dataset = entry.dataset
    themes = [catalog.topics[t].en for t in dataset.topics]
    document: dict[str, Any] = {
        "@type": "dcat:Dataset",
        "identifier": entry.page,
        "title": dataset.title.en,
        "description": dataset.description.en,
        "keyword": [*themes, *(catalog.topics[t].ar for t in dataset.topics)],
        "theme": themes,
        "issued": entry.issued,
        "modified": entry.modified,
        "publisher": {"@type": "org:Organization", "name": catalog.publisher.en},
        "contactPoint": {
            "@type": "vcard:Contact",
            "fn": catalog.publisher.en,
            "hasEmail": f"mailto:{contact_email}",
        },
        "accessLevel": "public" if dataset.tier == "open" else "restricted public",
        "rights": rights_statement(dataset),
        "license": licence_url(catalog, dataset),
        "bureauCode": [NO_FEDERAL_BUREAU],
        "programCode": [NO_FEDERAL_PROGRAM],
        "accrualPeriodicity": FREQUENCIES[dataset.update_frequency][0],
        "language": ["en", "ar"],
        "spatial": SPATIAL,
        "landingPage": entry.page,
        "describedBy": entry.datapackage_url,
        "describedByType": "application/json",
        "distribution": _distributions(entry),
    }
    return document


class DcatUsCatalog(BaseModel):
    """A Project Open Data v1.1 catalog; its datasets follow that schema (``describedBy``)."""

    context: str = Field(alias="@context")
    id: str = Field(alias="@id")
    type: Literal["dcat:Catalog"] = Field(alias="@type")
    conformsTo: str
    describedBy: str
    dataset: list[dict[str, Any]]


def data_json(
    catalog: Catalog, entries: list[Entry], base: str, contact_email: str
) -> dict[str, Any]:
    return {
        "@context": f"{SCHEMA}/catalog.jsonld",
        "@id": f"{base}/data.json",
        "@type": "dcat:Catalog",
        "conformsTo": SCHEMA,
        "describedBy": f"{SCHEMA}/catalog.json",
        "dataset": [dataset_document(catalog, e, contact_email) for e in entries],
    }


@router.get(
    "/data.json",
    response_model=DcatUsCatalog,
    summary="The catalog in DCAT-US 1.1 (data.json)",
    description="Every published dataset, open and premium, in the Project Open Data "
    "metadata schema v1.1, for data.gov-style harvesters: titles, descriptions, licence, "
    "access level (`restricted public` for premium), update frequency, and distributions "
    "(CSV, JSON and Parquet downloads, and the JSON API).",
)
def read_data_json(request: Request, state: AppServices) -> Response:
    base = base_url(request)
    entries = published_entries(state.library, base)
    document = data_json(state.library.catalog, entries, base, state.settings.contact_email)
    return Response(orjson.dumps(document), media_type="application/json")
