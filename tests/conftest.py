"""Shared fixtures and Hypothesis profiles (``HYPOTHESIS_PROFILE=dev|ci|thorough``)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, settings

from bawaba.settings import Settings

if TYPE_CHECKING:
    from bawaba.cluster.s3 import S3Endpoint

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DATASETS = len(yaml.safe_load((ROOT / "catalog.yaml").read_text())["datasets"])
"""How many datasets the shipped catalog declares, read from the YAML itself."""


def random_key() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture
def workspace(tmp_path: Path) -> Settings:
    """Settings for a private installation under ``tmp_path`` with a fresh key."""
    return Settings(
        var_dir=tmp_path / "var",
        datasets_dir=tmp_path / "datasets",
        pipelines_dir=ROOT / "pipelines",
        pseudonym_key=random_key(),  # type: ignore[arg-type]
    )


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a ``bawaba`` subprocess needs to use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")}
    env |= {
        "BAWABA_VAR_DIR": str(settings.var_dir),
        "BAWABA_DATASETS_DIR": str(settings.datasets_dir),
        "BAWABA_PIPELINES_DIR": str(settings.pipelines_dir),
        "BAWABA_CATALOG_PATH": str(settings.catalog_path.resolve()),
        "BAWABA_SCALE": str(settings.scale),
        "BAWABA_SEED": str(settings.seed),
        "BAWABA_KEEP_VERSIONS": str(settings.keep_versions),
        "BAWABA_PUBLISH_PART_ROWS": str(settings.publish_part_rows),
        "BAWABA_DEPARTMENTS_API_URL": settings.departments_api_url,
        # Absolute: the defaults are relative to the working directory, the checkout, where
        # `make demo` leaves a key store of its own.
        "BAWABA_KEY_STORE_PATH": str(settings.key_store_path.resolve()),
        "BAWABA_PLANS_PATH": str(settings.plans_path.resolve()),
    }
    if settings.pseudonym_key is not None:
        env["BAWABA_PSEUDONYM_KEY"] = settings.pseudonym_key.get_secret_value()
    return env


@dataclass(frozen=True)
class Served:
    """A real API server on loopback over a generated release."""

    url: str
    settings: Settings

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **options)

    def new_key(self, plan: str, org: str = "Test Org") -> str:
        """A new key on ``plan`` in this server's key store, as a caller would send it."""
        from bawaba.keys.store import KeyStore

        _, secret = KeyStore.open(self.settings).create(org, plan, None)
        return secret


def api_settings(root: Path, **overrides: Any) -> Settings:
    defaults: dict[str, Any] = {
        "var_dir": root / "var",
        "datasets_dir": root / "datasets",
        "pipelines_dir": ROOT / "pipelines",
        "catalog_path": ROOT / "catalog.yaml",
        "plans_path": ROOT / "api_keys" / "plans.yaml",
        "key_store_path": root / "var" / "keys.sqlite",
        "open_rate_limit": "100000/minute",
        "failed_auth_limit": "100000/minute",
    }
    return Settings(**(defaults | overrides))


@contextmanager
def serve_release(settings: Settings) -> Iterator[Served]:
    from bawaba.api.app import create_app
    from bawaba.api.server import server_options
    from bawaba.loopback import serve_in_thread

    with serve_in_thread(create_app(settings), **server_options(settings)) as url:
        yield Served(url, settings)


@contextmanager
def serve_processes(settings: Settings, workers: int, **env: str) -> Iterator[str]:
    """``bawaba serve --workers N`` over ``settings`` (and ``BAWABA_*`` overrides in
    ``env``) in a subprocess on a free loopback port; yields its base URL once every worker
    answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bawaba.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env_for(settings)
        | {
            "BAWABA_KEY_STORE_PATH": str(settings.key_store_path),
            "BAWABA_PLANS_PATH": str(settings.plans_path),
            "BAWABA_OPEN_RATE_LIMIT": settings.open_rate_limit,
            "BAWABA_FAILED_AUTH_LIMIT": settings.failed_auth_limit,
        }
        | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        # Every process must be up before a test counts, or the first answers everything.
        time.sleep(1.0 if workers > 1 else 0)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


RELEASES_ON = "BAWABA_TEST_RELEASES_ON"
"""``s3``: the ``served`` release is served from object storage (moto's S3 server on
loopback) rather than from its folder; ``make test`` runs the API suite once that way."""
BUCKET = "bawaba-tests"


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint | None]:
    """moto's S3 server for this session when the suite runs on object storage, with the
    process's AWS variables pointing at it; None otherwise."""
    if os.environ.get(RELEASES_ON, "folder") != "s3":
        yield None
        return
    from bawaba.cluster.processes import environment
    from bawaba.cluster.s3 import moto_s3

    with moto_s3(tmp_path_factory.mktemp("moto")) as store, environment(store.env()):
        store.create_bucket(BUCKET)
        yield store


def on_object_store(settings: Settings, store: S3Endpoint | None, prefix: str) -> Settings:
    """``settings`` reading their release from ``store`` (the folder's files uploaded under
    ``prefix``, as a publish to object storage writes them), or as they are without one."""
    if store is None:
        return settings
    client = store.client()
    for path in sorted(settings.datasets_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            key = f"{prefix}/{path.relative_to(settings.datasets_dir).as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    return settings.model_copy(update={"datasets_url": f"s3://{BUCKET}/{prefix}"})


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, object_store: S3Endpoint | None
) -> Iterator[Served]:
    """Two releases of every dataset (v1, then v2 current), served on loopback (from
    object storage when the suite runs there: ``RELEASES_ON``)."""
    from bawaba.catalog.load import load_catalog
    from releases import write_release

    folder = tmp_path_factory.mktemp("served")
    settings = api_settings(folder)
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1)
    write_release(settings.datasets_dir, catalog, seed=2)
    with serve_release(on_object_store(settings, object_store, folder.name)) as server:
        yield server
