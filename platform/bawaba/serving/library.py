"""What is published: the catalog joined with the versions in the release storage.

The release pointer (``current.json``) is re-read when it changes (a local folder: on the
next request; object storage: within ``BAWABA_RELEASE_POINTER_TTL_S``), so a publish is
visible to a running server without a restart. Versions never change once written, so their
manifests are read once and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bawaba.catalog.model import Catalog, Dataset
from bawaba.core.release_storage import ReleaseStorage
from bawaba.core.versions import DATA, DISCLOSURE, MANIFEST, Release, VersionManifest
from bawaba.publish.changes import CHANGES, VersionChanges
from bawaba.publish.disclosure_report import DisclosureReport, uncontrolled
from bawaba.serving.problems import NotFound


@dataclass(frozen=True)
class Published:
    """One readable version of a dataset."""

    dataset: Dataset
    version: str
    current: bool
    manifest: VersionManifest
    storage: ReleaseStorage

    @property
    def path(self) -> Path | str:
        """Its Parquet for DuckDB: a file on local disk (from object storage, a cached copy
        fetched on first use) or, for an object larger than the local cache, its URL."""
        size = sum(f.bytes for f in self.manifest.files if f.name == DATA)
        return self.storage.query_source(self.dataset.id, self.version, DATA, size)

    @property
    def pinned(self) -> bool:
        """Asked for by version number rather than as "the current one"."""
        return not self.current


class Library:
    def __init__(self, catalog: Catalog, storage: ReleaseStorage) -> None:
        self.catalog = catalog
        self.storage = storage
        self._manifests: dict[tuple[str, str], VersionManifest] = {}
        self._reports: dict[tuple[str, str], DisclosureReport] = {}

    def release(self) -> Release | None:
        """The current release, re-read if it may have been switched since last time."""
        return self.storage.current_release()

    def dataset(self, dataset_id: str) -> Dataset:
        try:
            return self.catalog.dataset(dataset_id)
        except KeyError:
            known = ", ".join(d.id for d in self.catalog.datasets)
            raise NotFound(
                f"no dataset {dataset_id!r}", hint=f"the datasets are: {known}"
            ) from None

    def current_version(self, dataset_id: str) -> str | None:
        release = self.release()
        return release.datasets.get(dataset_id) if release else None

    def versions(self, dataset_id: str) -> list[str]:
        """Readable versions, newest first; never one newer than the current one (a
        version installed by a publish that has not switched yet was never released)."""
        current = self.current_version(dataset_id)
        if current is None:
            return []
        newest = int(current[1:])
        found = [v for v in self.storage.versions_of(dataset_id) if int(v[1:]) <= newest]
        return found[::-1]

    def manifest(self, dataset_id: str, version: str) -> VersionManifest:
        key = (dataset_id, version)
        if key not in self._manifests:
            found = self.storage.read_object(dataset_id, version, MANIFEST)
            if found is None:
                raise FileNotFoundError(f"{dataset_id} {version} has no {MANIFEST}")
            self._manifests[key] = VersionManifest.model_validate_json(found)
        return self._manifests[key]

    def resolve(self, dataset_id: str, version: str | None = None) -> Published:
        """The version to read: the current one, or ``version`` if it is still kept."""
        dataset = self.dataset(dataset_id)
        current = self.current_version(dataset_id)
        if current is None:
            raise NotFound(
                f"dataset {dataset_id!r} has no published version yet",
                hint="it is in the catalog but no release has passed its checks; its "
                "metadata is at /api/v1/datasets/" + dataset_id,
                slug="not-published",
            )
        wanted = version or current
        # The current version is readable by definition: only an older one needs the
        # listing of the dataset's folder (a scandir and a stat per version, which was the
        # largest cost of a cached answer after the rate limiter; bench/api.py).
        if wanted != current and wanted not in self.versions(dataset_id):
            kept = ", ".join(self.versions(dataset_id))
            raise NotFound(
                f"dataset {dataset_id!r} has no version {wanted!r}",
                hint=f"the versions kept are: {kept} (current: {current})",
                slug="no-such-version",
            )
        return Published(
            dataset=dataset,
            version=wanted,
            current=version is None,
            manifest=self.manifest(dataset_id, wanted),
            storage=self.storage,
        )

    def disclosure(self, published: Published) -> DisclosureReport:
        """The disclosure report of a version: its ``disclosure.json``, or for reference
        data (no disclosure control) the same answer whether it has one or not."""
        key = (published.dataset.id, published.version)
        if key not in self._reports:
            found = self.storage.read_object(*key, DISCLOSURE)
            if found is not None:
                report = DisclosureReport.model_validate_json(found)
            elif published.dataset.privacy is None:
                report = uncontrolled(published.dataset, published.version)
            else:
                raise NotFound(
                    f"dataset {key[0]!r} version {key[1]!r} has no disclosure report: it was "
                    "published before disclosure reports were introduced",
                    hint="the versions published since then have one; see "
                    f"/api/v1/datasets/{key[0]}/versions",
                    slug="no-disclosure-report",
                )
            self._reports[key] = report
        return self._reports[key]


@dataclass(frozen=True)
class ReleaseEntry:
    """One release as far as the kept versions tell: when, and per dataset its version and
    whether the release made it (``new``) or carried it over (``unchanged``)."""

    release: str
    created_at: str
    datasets: dict[str, tuple[str, str]]
    """Dataset id -> (version, new | unchanged)."""


def release_history(library: Library) -> list[ReleaseEntry]:
    """Releases newest first, rebuilt from the manifests of the kept versions (each names
    the release that made it) and the release pointer. A release whose every version was
    swept away is no longer listed, and a dataset appears in a release only from the
    oldest version of it that is kept."""
    current = library.release()
    if current is None:
        return []
    made: dict[str, dict[str, str]] = {}
    dates: dict[str, str] = {current.release: current.created_at}
    for dataset in library.catalog.datasets:
        for version in library.versions(dataset.id):
            manifest = library.manifest(dataset.id, version)
            release = str(manifest.lineage.get("release") or f"{dataset.id}-{version}")
            made.setdefault(release, {})[dataset.id] = version
            if release not in dates or manifest.created_at > dates[release]:
                dates[release] = manifest.created_at
    dates = {r: d for r, d in dates.items() if r in made or r == current.release}
    state: dict[str, str] = {}
    entries: list[ReleaseEntry] = []
    for release in sorted(dates, key=lambda r: (dates[r], r)):
        fresh = made.get(release, {})
        state |= fresh
        entries.append(
            ReleaseEntry(
                release=release,
                created_at=dates[release],
                datasets={
                    d: (v, "new" if d in fresh else "unchanged") for d, v in sorted(state.items())
                },
            )
        )
    return entries[::-1]


def version_changes(library: Library, dataset_id: str, version: str) -> VersionChanges | None:
    """What ``version`` changed against the version before it (its ``changes.json``), or
    None for a version published before change summaries were introduced."""
    found = library.storage.read_object(dataset_id, version, CHANGES)
    return None if found is None else VersionChanges.model_validate_json(found)
