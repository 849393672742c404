"""Releases on object storage (``BAWABA_DATASETS_URL``), against moto's S3 server on
loopback: a publish lands the same bytes as the local folder and real servers serve them;
a publish killed while it writes objects leaves the previous release served; of two
publishers started together exactly one switches the release."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from services import ObjectStore, free_port, listening, moto_server, running

from bawaba.core import versions
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, env_for, random_key

pytestmark = pytest.mark.xdist_group("object-storage")  # one worker builds the cluster

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
BUCKET = "bawaba-releases"
DEPARTMENTS = ("RTA", "DEWA", "DM")
"""File-drop departments of three formats: every kind of dataset, few rows."""
OPEN = "epay-payment-methods"
"""An open dataset that June adds a period to."""
PREFIXES = ("served", "killed", "race")
"""Each test's own release, all published from the same May store."""


@dataclass(frozen=True)
class Cluster:
    store: ObjectStore
    settings: Settings
    """The pipeline workspace: its store holds June now; its local folder the May release."""
    logs: Path

    @property
    def s3(self) -> Any:
        return self.store.client()

    def at(self, prefix: str, **overrides: Any) -> Settings:
        return self.settings.model_copy(
            update={
                "datasets_url": f"s3://{BUCKET}/{prefix}",
                "datasets_dir": self.logs / f"no-datasets-{prefix}",
                **overrides,
            }
        )

    def env(self, settings: Settings) -> dict[str, str]:
        env = env_for(settings) | self.store.env()
        env |= {
            "BAWABA_PLANS_PATH": str(ROOT / "api_keys" / "plans.yaml"),
            "BAWABA_KEY_STORE_PATH": str(settings.var_dir / "keys.sqlite"),
            "BAWABA_OPEN_RATE_LIMIT": "100000/minute",
            "BAWABA_RELEASE_POINTER_TTL_S": str(settings.release_pointer_ttl_s),
            "BAWABA_DOWNLOAD_REDIRECT_S": str(settings.download_redirect_s),
            "BAWABA_OBJECT_CACHE_MB": str(settings.object_cache_mb),
        }
        if settings.datasets_url is not None:
            env["BAWABA_DATASETS_URL"] = settings.datasets_url
        return env

    def bawaba(self, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BAWABA, *args],
            env=self.env(settings),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def publisher(self, settings: Settings) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [BAWABA, "publish"],
            env=self.env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @contextmanager
    def server(self, settings: Settings, name: str) -> Iterator[httpx.Client]:
        """``bawaba serve`` on a free loopback port, and a client of it."""
        port = free_port()
        env = self.env(settings) | {"BAWABA_API_PORT": str(port)}
        log = self.logs / f"serve-{name}.log"
        with (
            running([BAWABA, "serve"], "bawaba serve", listening(port), log, env=env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ):
            yield client

    def keys(self, prefix: str) -> dict[str, str]:
        """Every key under ``prefix`` -> its ETag."""
        found: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{prefix}/"
        ):
            found |= {item["Key"]: item["ETag"] for item in page.get("Contents", [])}
        return found

    def get(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def pointer(self, prefix: str) -> versions.Release:
        return versions.Release.model_validate_json(self.get(f"{prefix}/{versions.CURRENT}"))


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """moto's S3 server; three releases of May on it and one in the local folder; then
    June ingested, for the publishes the tests run."""
    root = tmp_path_factory.mktemp("cluster")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.02,
        pseudonym_key=random_key(),  # type: ignore[arg-type]
        release_pointer_ttl_s=0.2,
    )
    chosen = [arg for d in DEPARTMENTS for arg in ("--department", d)]
    with moto_server(root) as store:
        store.client().create_bucket(Bucket=BUCKET)
        cluster = Cluster(store, settings, root)

        def ingest(month: str) -> None:
            ok(cluster.bawaba(settings, "simulate", "--through", month, *chosen))
            with serve_in_thread(create_app(settings.systems_dir)) as url:
                update = {"departments_api_url": url}
                ok(
                    cluster.bawaba(
                        settings.model_copy(update=update), "pipelines", "run", *DEPARTMENTS
                    )
                )

        ingest("2013-05")
        ok(cluster.bawaba(settings, "publish"))
        for prefix in PREFIXES:
            ok(cluster.bawaba(cluster.at(prefix), "publish"))
        ingest("2013-06")
        yield cluster


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_object_storage_holds_the_local_folders_bytes_and_serves_them(cluster: Cluster) -> None:
    local = versions.read_release(cluster.settings.datasets_dir)
    remote = cluster.pointer("served")
    assert local is not None
    assert remote.datasets == local.datasets
    assert remote.published_rows == local.published_rows
    for dataset, version in remote.datasets.items():
        data = cluster.get(f"served/{dataset}/{version}/{versions.DATA}")
        manifest = versions.VersionManifest.model_validate_json(
            cluster.get(f"served/{dataset}/{version}/{versions.MANIFEST}")
        )
        assert (
            data == (cluster.settings.datasets_dir / dataset / version / versions.DATA).read_bytes()
        )
        assert manifest.files[0].sha256 == sha256(data)
    assert not cluster.at("served").datasets_dir.exists()  # nothing written to a folder

    on_s3 = cluster.at("served")
    same_rows = [
        f"/api/v1/datasets/{OPEN}/records?limit=1000",
        f"/api/v1/datasets/{OPEN}/records?department=RTA&order=-month",
        f"/api/v1/datasets/{OPEN}/aggregate?group_by=department&measures=sum(amount_aed)",
    ]
    with (
        cluster.server(on_s3, "served") as remote_api,
        cluster.server(cluster.settings, "local") as local_api,
    ):
        for question in same_rows:
            mine, theirs = remote_api.get(question), local_api.get(question)
            assert mine.status_code == theirs.status_code == 200, (question, mine.text)
            assert mine.json() == theirs.json(), question
        # Metadata differs by when each was published; the versions it lists do not.
        listed = remote_api.get("/api/v1/datasets").json()
        assert listed["count"] == local_api.get("/api/v1/datasets").json()["count"]
        mine = remote_api.get(f"/api/v1/datasets/{OPEN}/versions").json()
        assert [v["version"] for v in mine["versions"]] == [remote.datasets[OPEN]]
        version = remote.datasets[OPEN]
        disclosure = remote_api.get(f"/api/v1/datasets/{OPEN}/versions/{version}/disclosure")
        assert disclosure.status_code == 200
        assert disclosure.json() == orjson.loads(
            cluster.get(f"served/{OPEN}/{version}/{versions.DISCLOSURE}")
        )
        whole = remote_api.get(f"/api/v1/datasets/{OPEN}/download.parquet")
        assert whole.status_code == 200
        assert whole.content == cluster.get(f"served/{OPEN}/{remote.datasets[OPEN]}/data.parquet")
        ranged = remote_api.get(
            f"/api/v1/datasets/{OPEN}/download.parquet", headers={"Range": "bytes=0-3"}
        )
        assert ranged.status_code == 206
        assert ranged.content == b"PAR1"
        csv = f"/api/v1/datasets/{OPEN}/download.csv?department=RTA"
        assert remote_api.get(csv).text == local_api.get(csv).text
    copies = list((on_s3.cache_dir / "objects").rglob(versions.DATA))
    assert copies, "the server read the Parquet through its local cache"


def test_versions_larger_than_the_cache_are_read_by_duckdb_from_s3(cluster: Cluster) -> None:
    # A server of its own working folder, so its cache starts empty.
    on_s3 = cluster.at("served", object_cache_mb=0, var_dir=cluster.logs / "var-uncached")
    questions = [
        f"/api/v1/datasets/{OPEN}/records?limit=1000",
        f"/api/v1/datasets/{OPEN}/records?department=DEWA&order=-amount_aed&limit=7",
        f"/api/v1/datasets/{OPEN}/aggregate?group_by=payment_method&measures=sum(transactions)",
    ]
    with (
        cluster.server(on_s3, "uncached") as remote_api,
        cluster.server(cluster.settings, "local-again") as local_api,
    ):
        for question in questions:
            mine, theirs = remote_api.get(question), local_api.get(question)
            assert mine.status_code == 200, (question, mine.text)
            # The next page's link names each server's own address: the rest is the same.
            assert {**mine.json(), "next": None} == {**theirs.json(), "next": None}, question
        csv = f"/api/v1/datasets/{OPEN}/download.csv?department=RTA"
        assert remote_api.get(csv).text == local_api.get(csv).text
    # Manifests are read through the cache; no Parquet was copied to answer.
    assert not list((on_s3.cache_dir / "objects").rglob(versions.DATA))


def _june_keys(cluster: Cluster, prefix: str, before: dict[str, str]) -> list[str]:
    return sorted(set(cluster.keys(prefix)) - set(before))


def test_a_publish_killed_while_writing_objects_leaves_the_previous_release_served(
    cluster: Cluster,
) -> None:
    on_s3 = cluster.at("killed")
    pointer_key = f"killed/{versions.CURRENT}"
    before = cluster.keys("killed")
    previous = cluster.get(pointer_key)
    with cluster.server(on_s3, "killed") as api:
        answer = api.get(f"/api/v1/datasets/{OPEN}/records?limit=1000")
        assert answer.headers["X-Dataset-Version"] == "v1"
        records = answer.json()
        publisher = cluster.publisher(on_s3)
        deadline = time.monotonic() + 300
        written: list[str] = []
        while not written and publisher.poll() is None and time.monotonic() < deadline:
            written = _june_keys(cluster, "killed", before)
            time.sleep(0.005)
        publisher.send_signal(signal.SIGKILL)
        printed, _ = publisher.communicate(timeout=30)
        assert publisher.returncode == -signal.SIGKILL, printed
        assert written, "the publish was killed after it had written objects"
        assert cluster.get(pointer_key) == previous, "killed before it switched"
        debris = _june_keys(cluster, "killed", before)

        time.sleep(on_s3.release_pointer_ttl_s * 3)
        assert api.get(f"/api/v1/datasets/{OPEN}/records?limit=1000").json() == records
        listed = api.get(f"/api/v1/datasets/{OPEN}/versions").json()["versions"]
        assert [v["version"] for v in listed] == ["v1"]

        # The next publish goes past the debris, switches, and sweeps the debris away.
        ok(cluster.bawaba(on_s3, "publish"))
        current = cluster.pointer("killed")
        assert current.datasets[OPEN] != "v1"
        time.sleep(on_s3.release_pointer_ttl_s * 3)
        fresh = api.get(f"/api/v1/datasets/{OPEN}/records?limit=1000")
        assert fresh.headers["X-Dataset-Version"] == current.datasets[OPEN]
        assert fresh.json() != records
    assert not set(debris) & set(cluster.keys("killed")), "the killed publish's debris is swept"


def test_two_publishers_started_together_exactly_one_wins(cluster: Cluster) -> None:
    on_s3 = cluster.at("race")
    before = cluster.keys("race")
    first, second = cluster.publisher(on_s3), cluster.publisher(on_s3)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = [first.returncode, second.returncode]
    assert sorted(codes) == [0, 2], "\n\n".join(outputs)  # whole, tracebacks included
    winner, loser = (outputs[0], outputs[1]) if codes[0] == 0 else (outputs[1], outputs[0])
    assert "publish-conflict" in loser, loser
    assert "another publish" in loser, loser
    released = re.search(r"release (\d{8}T\d+Z)", winner)
    assert released is not None, winner
    current = cluster.pointer("race")
    assert current.release == released.group(1)
    # The winner's release is whole, and the loser left nothing behind.
    for dataset, version in current.datasets.items():
        manifest = versions.VersionManifest.model_validate_json(
            cluster.get(f"race/{dataset}/{version}/{versions.MANIFEST}")
        )
        assert manifest.files[0].sha256 == sha256(
            cluster.get(f"race/{dataset}/{version}/{versions.DATA}")
        )
    named = {f"race/{d}/{v}/" for d, v in current.datasets.items()}
    stray = [
        k
        for k in set(cluster.keys("race")) - set(before)
        if not any(k.startswith(n) for n in named) and not k.endswith(versions.CURRENT)
    ]
    assert not stray, stray


def test_a_whole_parquet_download_redirects_to_a_presigned_url(cluster: Cluster) -> None:
    on_s3 = cluster.at("served", download_redirect_s=60)
    version = cluster.pointer("served").datasets[OPEN]
    with cluster.server(on_s3, "redirect") as api:
        answer = api.get(f"/api/v1/datasets/{OPEN}/download.parquet")
        assert answer.status_code == 307
        location = answer.headers["Location"]
        assert location.startswith(cluster.store.endpoint)
        assert answer.headers["Cache-Control"] == "no-store"
        fetched = httpx.get(location, timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == cluster.get(f"served/{OPEN}/{version}/{versions.DATA}")
        # Anything else is still the server's own answer.
        assert api.get(f"/api/v1/datasets/{OPEN}/download.csv").status_code == 200


def test_a_location_that_is_not_object_storage_is_refused(cluster: Cluster) -> None:
    done = subprocess.run(
        [BAWABA, "publish"],
        env=cluster.env(cluster.settings) | {"BAWABA_DATASETS_URL": "https://example.invalid/x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "datasets_url" in (done.stdout + done.stderr).lower()
