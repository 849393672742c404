"""JSON documents describing datasets: the catalog entry joined with what is published.

The API's metadata paths answer with these; the portal and the ecosystem formats (CKAN,
DCAT, Data Package) are built from the same documents.
"""

from __future__ import annotations

from typing import Any

from bawaba.catalog.model import Catalog, Dataset, Field
from bawaba.serving.current import with_manifest
from bawaba.serving.library import Library, version_changes
from bawaba.serving.query import row_key

API = "/api/v1"
DOWNLOAD_FORMATS = ("csv", "json", "parquet")


def links(base: str, dataset: Dataset) -> dict[str, Any]:
    root = f"{base}{API}/datasets/{dataset.id}"
    return {
        "self": root,
        "records": f"{root}/records",
        "aggregate": f"{root}/aggregate",
        "versions": f"{root}/versions",
        "downloads": {fmt: f"{root}/download.{fmt}" for fmt in DOWNLOAD_FORMATS},
    }


def field_document(field: Field) -> dict[str, Any]:
    return {
        "name": field.name,
        "role": field.role,
        "type": field.type,
        "unit": field.unit,
        "code_list": field.code_list,
        "additive": field.additive,
        "title": field.title.model_dump(),
        "description": field.description.model_dump(),
    }


def summary(catalog: Catalog, library: Library, dataset: Dataset, base: str) -> dict[str, Any]:
    current = with_manifest(library, dataset)
    return {
        "id": dataset.id,
        "tier": dataset.tier,
        "title": dataset.title.model_dump(),
        "description": dataset.description.model_dump(),
        "topics": list(dataset.topics),
        "grain": dataset.grain,
        "update_frequency": dataset.update_frequency,
        "licence": {"id": dataset.licence, **catalog.licences[dataset.licence].model_dump()},
        "current_version": current.version,
        "rows": current.rows,
        "links": links(base, dataset),
    }


def version_document(library: Library, dataset: Dataset, version: str, base: str) -> dict[str, Any]:
    manifest = library.manifest(dataset.id, version)
    root = f"{base}{API}/datasets/{dataset.id}"
    return {
        "version": version,
        "current": version == library.current_version(dataset.id),
        "created_at": manifest.created_at,
        "rows": manifest.rows,
        "files": [f.model_dump() for f in manifest.files],
        "release": manifest.lineage.get("release"),
        "changes": None
        if (changed := version_changes(library, dataset.id, version)) is None
        else changed.model_dump(mode="json"),
        "links": {
            "records": f"{root}/records?version={version}",
            "download": f"{root}/download.parquet?version={version}",
        },
    }


def detail(catalog: Catalog, library: Library, dataset: Dataset, base: str) -> dict[str, Any]:
    privacy = dataset.privacy
    return {
        **summary(catalog, library, dataset, base),
        "publisher": catalog.publisher.model_dump(),
        "source_departments": dataset.source_departments,
        "sort_by": list(dataset.sort_by),
        # The columns that tell cells apart: what /changes rows are matched on.
        "key": list(row_key(dataset)),
        "fields": [field_document(f) for f in dataset.fields],
        "privacy": None
        if privacy is None
        else {"k": privacy.k, "p": privacy.p, "max_dimensions": privacy.max_dimensions},
        "versions": [
            version_document(library, dataset, v, base) for v in library.versions(dataset.id)
        ],
    }
