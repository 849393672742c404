"""Where releases live: the interface the publisher writes through and the API reads from.

A release is a set of immutable dataset versions (``<dataset>/<version>/<file>``) and one
pointer (``current.json``) that names the current version of each dataset. Two backends
keep the same layout: a local folder (the embedded default, ``BAWABA_DATASETS_DIR``) and
S3-compatible object storage (``BAWABA_DATASETS_URL=s3://bucket/prefix``). Either way a
publish writes a version's objects first and switches the pointer last, in one step, so a
reader sees all of the previous release or all of the new one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import duckdb

from bawaba.core.versions import Release
from bawaba.errors import BawabaError

if TYPE_CHECKING:
    from bawaba.settings import Settings


class PublishBusy(BawabaError):
    slug = "publish-busy"


class PublishConflict(BawabaError):
    """Another publish got there first: this one switched nothing and removed what it
    wrote."""

    slug = "publish-conflict"


@dataclass(frozen=True)
class Pointer:
    """The release pointer as read, with the tag a conditional switch compares against
    (an object's ETag; unused by the local folder, whose publishers hold a lock)."""

    release: Release
    tag: str


class ReleaseStorage(Protocol):
    def read_pointer(self) -> Pointer | None:
        """The release pointer now, or None before the first release."""

    def current_release(self) -> Release | None:
        """The current release for a reader: re-read when it may have changed (a cheap
        check, not a read per call)."""

    def read_object(self, dataset: str, version: str, name: str) -> bytes | None:
        """One object of a version (a manifest, a report), or None if it has none."""

    def local_file(self, dataset: str, version: str, name: str) -> Path:
        """A local file holding one object of a version, for DuckDB and downloads."""

    def query_source(self, dataset: str, version: str, name: str, size: int) -> Path | str:
        """What DuckDB reads for one object of ``size`` bytes: a local file, or a URL that
        ``prepare_duckdb`` made readable."""

    def prepare_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Make a DuckDB connection able to read this storage's URLs."""

    def versions_of(self, dataset: str) -> list[str]:
        """Complete versions of ``dataset``, oldest first."""

    def next_version(self, dataset: str) -> str:
        """The name a new version of ``dataset`` gets."""

    def staging_dir(self) -> Path:
        """A local folder where a publish builds a version's files before writing them."""

    def write_version(self, staged: Path, dataset: str, version: str) -> None:
        """Store the complete staged folder as ``version`` (it is not current until the
        pointer names it). The staged folder is consumed."""

    def switch_pointer(self, release: Release, previous: Pointer | None) -> None:
        """Make ``release`` current in one step, unless the pointer is no longer
        ``previous``: then raise PublishConflict and change nothing."""

    def sweep(self, current: Release | None, keep: int) -> None:
        """Remove what no release can read: debris of failed publishes and versions older
        than the newest ``keep``."""

    def publishing(self) -> AbstractContextManager[None]:
        """Held around a whole publish: keeps publishers of one folder apart, or undoes
        the writes of a publish that fails before it switched."""

    def presigned_url(self, dataset: str, version: str, name: str, seconds: int) -> str | None:
        """A URL the object can be fetched from directly for ``seconds``, where the backend
        has such URLs."""


def open_storage(settings: Settings) -> ReleaseStorage:
    """The release storage the settings name: object storage when BAWABA_DATASETS_URL is
    set, else the local folder."""
    if settings.datasets_url is None:
        from bawaba.core.local_storage import LocalFolder

        return LocalFolder(settings.datasets_dir)
    from bawaba.core.s3_storage import S3Storage

    return S3Storage.from_settings(settings)
