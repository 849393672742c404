"""Secrets under an operator's hands: a token keys file removed under a running server, a
key store whose secret is lost, and ``make clean``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bawaba.catalog.load import load_catalog
from bawaba.errors import ConfigError
from bawaba.keys.store import KeyStore, store_secret
from conftest import ROOT, api_settings, env_for, serve_release
from releases import write_release

PREMIUM = "/api/v1/datasets/payer-mix/records"


def test_removing_the_token_keys_under_a_running_server_keeps_tokens_working(
    tmp_path: Path,
) -> None:
    settings = api_settings(tmp_path)
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["payer-mix"])
    key, secret = KeyStore.open(settings).create("Test Org", "business", None)
    with serve_release(settings) as served, served.client() as client:
        token = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(key.id, secret)
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get(PREMIUM, headers=bearer).status_code == 200
        (settings.secrets_dir / "token-keys.json").unlink()
        # The keys read before still sign and check: no request fails for a file gone.
        assert client.get(PREMIUM, headers=bearer).status_code == 200
        again = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(key.id, secret)
        )
        assert again.status_code == 200, again.text
        assert client.get(PREMIUM, headers=bearer).status_code == 200
    # A restart makes new signing keys: a token signed before is a clear 401, not a 500.
    with serve_release(settings) as served, served.client() as client:
        refused = client.get(PREMIUM, headers=bearer)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid-token"
        assert client.get(PREMIUM, headers={"X-API-Key": secret}).status_code == 200


def test_a_lost_key_store_secret_is_not_silently_replaced(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    KeyStore.open(settings).create("Test Org", "business", None)
    lost = settings.key_store_secret_file
    lost.unlink()
    with pytest.raises(ConfigError) as refused:
        store_secret(settings)
    assert str(lost) in refused.value.message
    assert "1 key(s)" in refused.value.message
    assert "restore" in refused.value.hint
    assert not lost.exists(), "no new secret was written over the stored keys"
    env = env_for(settings) | {"BAWABA_KEY_STORE_PATH": str(settings.key_store_path)}
    for command in (["keys", "list"], ["serve", "--port", "0"]):
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "bawaba"), *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        said = " ".join((done.stdout + done.stderr).split())
        assert "api-keys.key is missing" in said, said
        assert not lost.exists()


def test_a_new_key_store_gets_a_new_secret(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    assert not settings.key_store_secret_file.exists()
    KeyStore.open(settings)  # an empty store: nothing hashed under any secret yet
    assert settings.key_store_secret_file.stat().st_mode & 0o777 == 0o600


def test_make_clean_removes_the_key_store_with_its_secret(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = {
        "var/secrets/api-keys.key": "secret",
        "api_keys/keys.sqlite": "store",
        "api_keys/keys.sqlite-wal": "log",
    }
    for name, text in made.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "api_keys" / "plans.yaml").write_text("plans: {}\n")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert [name for name in made if (tmp_path / name).exists()] == []
    assert (tmp_path / "api_keys" / "plans.yaml").exists(), "definitions are not generated data"
