"""Shared fixtures and Hypothesis profiles (``HYPOTHESIS_PROFILE=dev|ci|thorough``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, settings

from bawaba.settings import Settings

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
        "BAWABA_DEPARTMENTS_API_URL": settings.departments_api_url,
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
    }
    return Settings(**(defaults | overrides))


@contextmanager
def serve_release(settings: Settings) -> Iterator[Served]:
    from bawaba.api.app import create_app
    from bawaba.api.protocol import ProblemHttpToolsProtocol
    from bawaba.loopback import serve_in_thread

    # The protocol `bawaba serve` uses, so malformed requests are answered as in production.
    with serve_in_thread(create_app(settings), http=ProblemHttpToolsProtocol) as url:
        yield Served(url, settings)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two releases of every dataset (v1, then v2 current), served on loopback."""
    from bawaba.catalog.load import load_catalog
    from releases import write_release

    settings = api_settings(tmp_path_factory.mktemp("served"))
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1)
    write_release(settings.datasets_dir, catalog, seed=2)
    with serve_release(settings) as server:
        yield server
