"""A dataset of the catalog with its current manifest: what every listing says about it.

The API's summaries, the portal's lists and CKAN's package dicts all show a dataset with
its current version, when that version was published and how many rows it holds; the
metadata catalogs (DCAT, Data Packages) add its file and when its first kept version was
published. They all build it here, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bawaba.catalog.model import Dataset
from bawaba.core.versions import DATA, FileEntry, VersionManifest
from bawaba.serving.library import Library


@dataclass(frozen=True)
class WithManifest:
    """A dataset and the manifest of one of its versions (by default its current one);
    ``version`` and ``manifest`` are None for a dataset with no published version yet."""

    dataset: Dataset
    version: str | None
    manifest: VersionManifest | None

    @property
    def created_at(self) -> str | None:
        """When the version was published (ISO 8601)."""
        return self.manifest.created_at if self.manifest else None

    @property
    def updated(self) -> str:
        """The day the version was published, or "" before the first release."""
        return (self.created_at or "")[:10]

    @property
    def rows(self) -> int | None:
        return self.manifest.rows if self.manifest else None

    @property
    def parquet(self) -> FileEntry | None:
        """The version's published file, with its size and checksum."""
        if self.manifest is None:
            return None
        return next((f for f in self.manifest.files if f.name == DATA), None)


def with_manifest(library: Library, dataset: Dataset, version: str | None = None) -> WithManifest:
    """``dataset`` with the manifest of ``version``, or of its current version if none is
    given; the caller has made sure a given version exists (``Library.resolve``)."""
    chosen = version or library.current_version(dataset.id)
    manifest = library.manifest(dataset.id, chosen) if chosen else None
    return WithManifest(dataset, chosen, manifest)


def listing(library: Library, datasets: Sequence[Dataset] | None = None) -> list[WithManifest]:
    """Every dataset of the catalog (or of ``datasets``), in order, with its current
    manifest."""
    chosen = library.catalog.datasets if datasets is None else datasets
    return [with_manifest(library, dataset) for dataset in chosen]


def first_published(library: Library, dataset_id: str) -> str | None:
    """When the oldest version still kept was published, or None before the first."""
    kept = library.versions(dataset_id)
    return library.manifest(dataset_id, kept[-1]).created_at if kept else None
