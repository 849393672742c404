"""Bawaba's catalog as CKAN dictionaries: packages, resources and organizations.

The mapping, fixed here once:

- a dataset is a package; ``id`` and ``name`` are both the dataset id, so links built from
  either keep working;
- its whole-dataset downloads (CSV, JSON, Parquet of the current version) are its resources,
  with ids ``<dataset>-<format>``; the CSV one is marked ``datastore_active``, and
  ``datastore_search`` answers for any of them;
- organizations are the departments whose records the datasets are built from, plus the
  publisher, which owns every package (CKAN gives a package exactly one owner);
- English and Arabic texts follow ckanext-fluent: ``title`` and ``notes`` in English,
  ``title_translated`` and ``notes_translated`` with both languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bawaba.catalog.model import Catalog, Dataset
from bawaba.reference import load_reference
from bawaba.serving import documents
from bawaba.serving.current import first_published, with_manifest
from bawaba.serving.library import Library

RESOURCE_FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("CSV", "text/csv"),
    "json": ("JSON", "application/json"),
    "parquet": ("Parquet", "application/vnd.apache.parquet"),
}
"""Download extension -> (CKAN format label, media type), in resource order."""
DATASTORE_FORMAT = "csv"
"""The resource CKAN clients see as the DataStore table (the one a CKAN loader would fill)."""


@dataclass(frozen=True)
class Organization:
    name: str
    """CKAN name: lower case, unique."""
    title: str
    title_ar: str
    description: str
    code: str | None
    """The department's code in the reference data; None for the publisher."""
    kind: str

    def owns(self, dataset: Dataset) -> bool:
        """Whether ``dataset`` is listed under this organization: the publisher lists every
        dataset, a department those built from its records."""
        if self.code is None:
            return True
        sources = dataset.source_departments
        return sources == "all" or self.code in sources


def publisher(catalog: Catalog) -> Organization:
    return Organization(
        name="publisher",
        title=catalog.publisher.en,
        title_ar=catalog.publisher.ar,
        description="Publishes every Bawaba dataset on behalf of the departments.",
        code=None,
        kind="publisher",
    )


def organizations(catalog: Catalog) -> list[Organization]:
    """The publisher and every department, sorted by name."""
    found = [publisher(catalog)]
    for department in load_reference().departments:
        kind = department.kind.replace("_", "-")
        found.append(
            Organization(
                name=department.code.lower(),
                title=department.en,
                title_ar=department.ar,
                description=f"A {kind} entity collecting payments through the ePay gateway "
                f"(code {department.code}).",
                code=department.code,
                kind=department.kind,
            )
        )
    return sorted(found, key=lambda o: o.name)


def organization_dict(
    organization: Organization, package_count: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": organization.name,
        "name": organization.name,
        "title": organization.title,
        "display_name": organization.title,
        "title_translated": {"en": organization.title, "ar": organization.title_ar},
        "description": organization.description,
        "image_url": "",
        "image_display_url": "",
        "is_organization": True,
        "type": "organization",
        "state": "active",
        "approval_status": "approved",
        "created": None,
        "num_followers": 0,
        "extras": [
            {"key": "kind", "value": organization.kind},
            *([{"key": "code", "value": organization.code}] if organization.code else []),
        ],
    }
    if package_count is not None:
        body["package_count"] = package_count
    return body


def resource_id(dataset: Dataset, fmt: str) -> str:
    return f"{dataset.id}-{fmt}"


def resource_dicts(
    library: Library, dataset: Dataset, document: dict[str, Any]
) -> list[dict[str, Any]]:
    """The current version's downloads, or none if the dataset is not published yet."""
    found = with_manifest(library, dataset, document["current_version"])
    version, manifest, parquet = found.version, found.manifest, found.parquet
    if version is None or manifest is None:
        return []
    resources = []
    for position, (fmt, (label, media_type)) in enumerate(RESOURCE_FORMATS.items()):
        # Only the whole Parquet download is the published file, whose size and checksum
        # the manifest records; the others are written on first request.
        whole_file = fmt == "parquet" and parquet is not None
        resources.append(
            {
                "id": resource_id(dataset, fmt),
                "package_id": dataset.id,
                "name": f"{dataset.title.en} ({label})",
                "description": f"The whole dataset, current version ({version}), as {label}. "
                "Filtered downloads take the same filters as the records API.",
                "format": label,
                "mimetype": media_type,
                "mimetype_inner": None,
                "url": document["links"]["downloads"][fmt],
                "url_type": None,
                "resource_type": None,
                "size": parquet.bytes if whole_file and parquet else None,
                "hash": f"sha256:{parquet.sha256}" if whole_file and parquet else "",
                "created": manifest.created_at,
                "last_modified": manifest.created_at,
                "metadata_modified": manifest.created_at,
                "state": "active",
                "position": position,
                "datastore_active": fmt == DATASTORE_FORMAT,
                "cache_url": None,
            }
        )
    return resources


def package_dict(catalog: Catalog, library: Library, dataset: Dataset, base: str) -> dict[str, Any]:
    document = documents.summary(catalog, library, dataset, base)
    created = first_published(library, dataset.id)
    modified = with_manifest(library, dataset, document["current_version"]).created_at
    licence = document["licence"]
    owner = organization_dict(publisher(catalog))
    resources = resource_dicts(library, dataset, document)
    tags = [
        {"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None}
        for t in dataset.topics
    ]
    sources = dataset.source_departments
    return {
        "id": dataset.id,
        "name": dataset.id,
        "title": dataset.title.en,
        "notes": dataset.description.en,
        "title_translated": dataset.title.model_dump(),
        "notes_translated": dataset.description.model_dump(),
        "type": "dataset",
        "state": "active",
        "private": False,
        "isopen": dataset.tier == "open",
        "license_id": licence["id"],
        "license_title": licence["title"],
        "license_url": licence["url"],
        "author": catalog.publisher.en,
        "author_email": None,
        "maintainer": catalog.publisher.en,
        "maintainer_email": None,
        "url": document["links"]["self"],
        "version": document["current_version"],
        "metadata_created": created,
        "metadata_modified": modified,
        "owner_org": owner["id"],
        "organization": owner,
        "groups": [],
        "tags": tags,
        "num_tags": len(tags),
        "resources": resources,
        "num_resources": len(resources),
        "extras": [
            {"key": "tier", "value": dataset.tier},
            {"key": "grain", "value": dataset.grain},
            {"key": "update_frequency", "value": dataset.update_frequency},
            {"key": "rows", "value": "" if document["rows"] is None else str(document["rows"])},
            {
                "key": "source_departments",
                "value": sources if isinstance(sources, str) else ",".join(sources),
            },
            {"key": "data_dictionary", "value": document["links"]["self"]},
            {"key": "datapackage", "value": f"{document['links']['self']}/datapackage.json"},
        ],
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }
