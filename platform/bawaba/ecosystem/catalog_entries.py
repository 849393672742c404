"""What the metadata catalogs (DCAT-US, DCAT-AP, Data Packages) say about a dataset,
gathered once: its published versions, URLs, and the vocabulary both DCAT profiles share.

A catalog entry exists only for a dataset with a published version: DCAT describes data
that can be fetched, and a dataset still waiting for its first release has none. (The
open API and CKAN list such datasets with their metadata only.)
"""

from __future__ import annotations

from dataclasses import dataclass

from bawaba.catalog.model import Catalog, Dataset
from bawaba.core.versions import FileEntry
from bawaba.serving.current import first_published, with_manifest
from bawaba.serving.documents import API
from bawaba.serving.library import Library

FREQUENCIES: dict[str, tuple[str, str]] = {
    "daily": ("R/P1D", "DAILY"),
    "monthly": ("R/P1M", "MONTHLY"),
    "quarterly": ("R/P3M", "QUARTERLY"),
    "annual": ("R/P1Y", "ANNUAL"),
    "irregular": ("irregular", "IRREG"),
}
"""Update frequency -> (ISO 8601 repeating duration for DCAT-US, code in the EU
Publications Office frequency vocabulary for DCAT-AP)."""

GRAIN_DURATIONS: dict[str, str | None] = {
    "day": "P1D",
    "month": "P1M",
    "quarter": "P3M",
    "year": "P1Y",
    "hour_of_week": "PT1H",
    "none": None,
}
"""A dataset's time grain as an xsd:duration (DCAT's temporal resolution)."""


@dataclass(frozen=True)
class Download:
    extension: str
    label: str
    media_type: str
    eu_file_type: str
    """Code in the EU Publications Office file-type vocabulary."""


DOWNLOADS = (
    Download("csv", "CSV", "text/csv", "CSV"),
    Download("json", "JSON", "application/json", "JSON"),
    Download("parquet", "Parquet", "application/vnd.apache.parquet", "PARQUET"),
)


@dataclass(frozen=True)
class Entry:
    """One published dataset as the catalogs describe it."""

    dataset: Dataset
    version: str
    """The current version."""
    issued: str
    """When its first kept version was published (ISO 8601)."""
    modified: str
    """When its current version was published."""
    rows: int
    parquet: FileEntry | None
    """The published file of the current version, with its size and checksum."""
    base: str

    @property
    def page(self) -> str:
        """The dataset's metadata document (the open API's dataset path)."""
        return f"{self.base}{API}/datasets/{self.dataset.id}"

    def download_url(self, extension: str, pinned: bool = False) -> str:
        url = f"{self.page}/download.{extension}"
        return f"{url}?version={self.version}" if pinned else url

    @property
    def datapackage_url(self) -> str:
        return f"{self.page}/datapackage.json"


def entry(library: Library, dataset: Dataset, base: str, version: str | None = None) -> Entry:
    """The catalog entry of ``dataset`` at ``version`` (default: the current one); the
    caller has made sure the version exists (``Library.resolve``)."""
    found = with_manifest(library, dataset, version)
    issued = first_published(library, dataset.id)
    if found.version is None or found.manifest is None or issued is None:
        raise ValueError(f"{dataset.id} has no published version to describe")
    return Entry(
        dataset=dataset,
        version=found.version,
        issued=issued,
        modified=found.manifest.created_at,
        rows=found.manifest.rows,
        parquet=found.parquet,
        base=base,
    )


def published_entries(library: Library, base: str) -> list[Entry]:
    """An entry for every dataset with a current version, in catalog order."""
    return [
        entry(library, dataset, base)
        for dataset in library.catalog.datasets
        if library.current_version(dataset.id) is not None
    ]


def licence_url(catalog: Catalog, dataset: Dataset) -> str:
    return catalog.licences[dataset.licence].url


def rights_statement(dataset: Dataset) -> str:
    if dataset.tier == "open":
        return "Open data: free for everyone, no key needed."
    return (
        "Premium data: the metadata is public; the data needs an API key from a Bawaba "
        "subscription, sent as X-API-Key or Authorization: Bearer."
    )
