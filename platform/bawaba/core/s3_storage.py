"""Releases on S3-compatible object storage (``BAWABA_DATASETS_URL=s3://bucket/prefix``).

The keys mirror the local folder (``<prefix><dataset>/<version>/<file>`` and
``<prefix>current.json``) and hold the same bytes. Nothing is ever renamed: every version
object is written create-only (``If-None-Match: *``), each version's manifest last, and
the pointer is switched by one conditional write (``If-Match`` on the ETag read at the start
of the publish, ``If-None-Match: *`` for the first release). So readers always see a
complete release, and of two publishers that started from the same pointer exactly one
switches it: the other gets ``412 Precondition Failed``, removes what it wrote and fails.

What the backend must do, and does on AWS S3 (conditional writes since 2024), MinIO and
Ceph RGW: refuse a ``PutObject`` whose ``If-None-Match: *`` or ``If-Match`` does not hold,
atomically with the write (412, or 409 while another conditional write to the key is in
flight); answer a conditional ``GetObject`` with 304; sign GET URLs (presigned downloads).
The tests run against moto's server, which does all of this.

Publishers never wait for one another (there is no lock to leave behind when one is
killed): a new version takes the number after every version stored, finished or not, so it
never meets the debris of a killed publish; debris below the current version can no longer
be released and is swept.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import duckdb
from botocore.config import Config
from botocore.exceptions import ClientError

from bawaba.core import versions
from bawaba.core.object_cache import ObjectCache
from bawaba.core.release_storage import Pointer, PublishConflict
from bawaba.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from bawaba.settings import Settings

_VERSION_KEY = re.compile(r"^(?P<dataset>[^/]+)/v(?P<number>\d+)/(?P<name>[^/]+)$")
_REFUSED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
"""How a backend says a conditional write did not hold (AWS: 412, or 409 while another
conditional write to the key is in progress)."""


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str
    """Empty, or ending in ``/``."""

    @classmethod
    def parse(cls, url: str) -> Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                f"BAWABA_DATASETS_URL: {url!r} is not an object storage location",
                hint="give s3://bucket or s3://bucket/prefix (endpoint, region and "
                "credentials come from the AWS_* variables), or unset it for the local folder",
            )
        prefix = parts.path.strip("/")
        return cls(parts.netloc, f"{prefix}/" if prefix else "")


@dataclass
class _Writes:
    """What this publish has written so far, to remove if it does not switch."""

    staging: Path
    created: list[str] = field(default_factory=list)
    manifests: list[tuple[str, Path]] = field(default_factory=list)
    """Manifests held back until the switch: a version without one is never read."""


class S3Storage:
    def __init__(
        self,
        client: S3Client,
        location: Location,
        cache: Path,
        cache_bytes: int,
        staging: Path,
        pointer_ttl_s: float,
    ) -> None:
        self.client = client
        self.location = location
        self.cache = ObjectCache(cache, cache_bytes, self._download)
        self._staging = staging
        self._ttl = pointer_ttl_s
        self._lock = threading.Lock()
        self._pointer: Pointer | None = None
        self._checked = float("-inf")
        self._listings: dict[str, tuple[str, list[str]]] = {}
        self._writes: _Writes | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        assert settings.datasets_url is not None
        # Endpoint and credentials: botocore reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, … itself.
        client = boto3.session.Session().client(
            "s3",
            region_name=os.environ.get("AWS_REGION") or None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
        return cls(
            client,
            Location.parse(settings.datasets_url),
            cache=settings.cache_dir / "objects",
            cache_bytes=settings.object_cache_mb * 1024 * 1024,
            staging=settings.var_dir / "staging",
            pointer_ttl_s=settings.release_pointer_ttl_s,
        )

    def key(self, dataset: str, version: str, name: str) -> str:
        return f"{self.location.prefix}{dataset}/{version}/{name}"

    @property
    def _pointer_key(self) -> str:
        return f"{self.location.prefix}{versions.CURRENT}"

    # Reading

    def read_pointer(self) -> Pointer | None:
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=self._pointer_key)
        except ClientError as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise
        body = answer["Body"].read()
        return Pointer(versions.Release.model_validate_json(body), answer["ETag"])

    def current_release(self) -> versions.Release | None:
        """The pointer, re-read at most every ``pointer_ttl_s`` with a conditional GET
        (an unchanged pointer costs a 304 and no body)."""
        if time.monotonic() - self._checked < self._ttl:
            return self._pointer.release if self._pointer else None
        with self._lock:
            if time.monotonic() - self._checked >= self._ttl:
                self._pointer = self._revalidate(self._pointer)
                self._checked = time.monotonic()
        return self._pointer.release if self._pointer else None

    def _revalidate(self, known: Pointer | None) -> Pointer | None:
        if known is None:
            return self.read_pointer()
        try:
            answer = self.client.get_object(
                Bucket=self.location.bucket, Key=self._pointer_key, IfNoneMatch=known.tag
            )
        except ClientError as error:
            if _code(error) in {"304", "NotModified"}:
                return known
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise
        body = answer["Body"].read()
        return Pointer(versions.Release.model_validate_json(body), answer["ETag"])

    def read_object(self, dataset: str, version: str, name: str) -> bytes | None:
        path = self.cache.get(self.key(dataset, version, name))
        return None if path is None else path.read_bytes()

    def local_file(self, dataset: str, version: str, name: str) -> Path:
        key = self.key(dataset, version, name)
        path = self.cache.get(key)
        if path is None:
            raise FileNotFoundError(f"s3://{self.location.bucket}/{key}")
        return path

    def query_source(self, dataset: str, version: str, name: str, size: int) -> Path | str:
        """The cached copy, or for an object larger than the whole cache its ``s3://`` URL:
        DuckDB's httpfs then reads only the ranges a query needs."""
        if size > self.cache.max_bytes:
            return f"s3://{self.location.bucket}/{self.key(dataset, version, name)}"
        return self.local_file(dataset, version, name)

    def prepare_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None:
        """httpfs (from the ``duckdb-ext-httpfs`` package: DuckDB cannot download
        extensions here) and a secret with the client's own endpoint and credentials."""
        import duckdb_ext

        extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
        connection.execute(f"SET extension_directory = '{extensions}'")
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("LOAD httpfs")
        meta = self.client.meta
        endpoint = urlsplit(meta.endpoint_url)
        frozen = boto3.session.Session().get_credentials().get_frozen_credentials()
        connection.execute(
            "CREATE OR REPLACE SECRET bawaba_datasets (TYPE s3, KEY_ID ?, SECRET ?, "
            "SESSION_TOKEN ?, REGION ?, ENDPOINT ?, URL_STYLE ?, USE_SSL ?, SCOPE ?)",
            [
                frozen.access_key,
                frozen.secret_key,
                frozen.token or "",
                meta.region_name or "us-east-1",
                endpoint.netloc,
                "vhost" if endpoint.netloc.endswith("amazonaws.com") else "path",
                endpoint.scheme == "https",
                f"s3://{self.location.bucket}/{self.location.prefix}",
            ],
        )

    def _download(self, key: str, target: Path) -> bool:
        try:
            self.client.download_file(self.location.bucket, key, str(target))
        except ClientError as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return False
            raise
        return True

    def _stored(self, below: str = "") -> dict[str, dict[int, set[str]]]:
        """Dataset -> version number -> object names, for every version object stored
        (under ``below``, a dataset's folder, if given)."""
        found: dict[str, dict[int, set[str]]] = {}
        prefix = self.location.prefix
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix + below):
            for item in page.get("Contents", []):
                match = _VERSION_KEY.match(item["Key"][len(prefix) :])
                if match:
                    numbers = found.setdefault(match["dataset"], {})
                    numbers.setdefault(int(match["number"]), set()).add(match["name"])
        return found

    def _stored_of(self, dataset: str) -> dict[int, set[str]]:
        return self._stored(f"{dataset}/").get(dataset, {})

    def versions_of(self, dataset: str) -> list[str]:
        """Versions with a manifest (written last), listed once per pointer seen."""
        self.current_release()
        tag = self._pointer.tag if self._pointer else ""
        known = self._listings.get(dataset)
        if known is None or known[0] != tag:
            stored = self._stored_of(dataset)
            complete = [f"v{n}" for n in sorted(stored) if versions.MANIFEST in stored[n]]
            known = (tag, complete)
            self._listings[dataset] = known
        return list(known[1])

    def presigned_url(self, dataset: str, version: str, name: str, seconds: int) -> str | None:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.location.bucket, "Key": self.key(dataset, version, name)},
            ExpiresIn=seconds,
        )

    # Publishing

    def next_version(self, dataset: str) -> str:
        stored = self._stored_of(dataset)
        return f"v{max(stored) + 1}" if stored else "v1"

    def staging_dir(self) -> Path:
        return self._current_writes().staging

    @contextlib.contextmanager
    def publishing(self) -> Iterator[None]:
        # Its own staging folder: publishers on one machine may share BAWABA_VAR_DIR.
        writes = _Writes(self._staging / uuid.uuid4().hex)
        self._writes = writes
        try:
            yield
        except BaseException:
            self._delete(writes.created)
            raise
        finally:
            self._writes = None
            shutil.rmtree(writes.staging, ignore_errors=True)

    def write_version(self, staged: Path, dataset: str, version: str) -> None:
        writes = self._current_writes()
        for path in sorted(p for p in staged.iterdir() if p.is_file()):
            key = self.key(dataset, version, path.name)
            if path.name == versions.MANIFEST:
                # Kept on local disk until the switch.
                held = writes.staging / ".manifests" / dataset / version
                held.mkdir(parents=True, exist_ok=True)
                writes.manifests.append((key, path.replace(held / path.name)))
                continue
            self._create(key, path, writes, f"{dataset} {version}")
        for path in staged.iterdir():
            path.unlink()
        staged.rmdir()

    def switch_pointer(self, release: versions.Release, previous: Pointer | None) -> None:
        writes = self._current_writes()
        for key, path in writes.manifests:
            self._create(key, path, writes, key)
        body = versions.encode_release(release)
        condition: dict[str, Any] = (
            {"IfNoneMatch": "*"} if previous is None else {"IfMatch": previous.tag}
        )
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self._pointer_key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _code(error) in _REFUSED:
                raise PublishConflict(
                    "another publish switched the release first: this one switched nothing "
                    "and removed what it wrote",
                    hint="publish again to build on the new current release",
                ) from None
            raise
        # Switched: what it wrote is the release now, never to be undone.
        writes.created.clear()
        writes.manifests.clear()
        self._pointer, self._checked = None, float("-inf")

    def _create(self, key: str, path: Path, writes: _Writes, what: str) -> None:
        try:
            with path.open("rb") as body:
                self.client.put_object(
                    Bucket=self.location.bucket, Key=key, Body=body, IfNoneMatch="*"
                )
        except ClientError as error:
            if _code(error) in _REFUSED:
                raise PublishConflict(
                    f"another publish is writing {what}: this one switched nothing and "
                    "removed what it wrote",
                    hint="wait for the other publish, then publish again",
                ) from None
            raise
        writes.created.append(key)

    def _current_writes(self) -> _Writes:
        if self._writes is None:
            raise RuntimeError("write a release inside storage.publishing()")
        return self._writes

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.location.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )

    def sweep(self, current: versions.Release | None, keep: int) -> None:
        """Remove versions below the current one that can never be read (incomplete:
        debris of a killed or beaten publish) and complete ones past the newest ``keep``.
        A version above the current one may be a running publish's, and is left alone."""
        named = current.datasets if current else {}
        doomed: list[str] = []
        for dataset, numbers in self._stored().items():
            live = named.get(dataset)
            if live is None:
                continue
            live_number = int(live[1:])
            below = sorted(n for n in numbers if n < live_number)
            complete = [n for n in below if versions.MANIFEST in numbers[n]]
            old = set(complete[: max(0, len(complete) - keep + 1)])
            for number in below:
                if number in old or versions.MANIFEST not in numbers[number]:
                    doomed += [self.key(dataset, f"v{number}", n) for n in numbers[number]]
        self._delete(doomed)


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
