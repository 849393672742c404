"""Key hygiene: the pipeline refuses to run without a strong pseudonym key (PRIVACY.md S1)."""

from __future__ import annotations

import subprocess

import pytest

from bawaba.settings import Settings
from conftest import ROOT, env_for

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")


def _run_pipelines(settings: Settings, key: str | None) -> subprocess.CompletedProcess[str]:
    env = env_for(settings)
    env.pop("BAWABA_PSEUDONYM_KEY", None)
    if key is not None:
        env["BAWABA_PSEUDONYM_KEY"] = key
    return subprocess.run(
        [BAWABA, "pipelines", "run", "DP"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        (None, "no pseudonym key"),
        ("", "0 bytes; at least 32"),
        ("too-short-a-secret", "18 bytes; at least 32"),
        ("a" * 64, "looks like a placeholder"),
        ("0123456789" * 4, "looks like a placeholder"),
    ],
)
def test_pipelines_refuse_a_missing_or_weak_key(
    workspace: Settings, key: str | None, complaint: str
) -> None:
    done = _run_pipelines(workspace, key)
    assert done.returncode == 2
    assert complaint in done.stderr
    assert "BAWABA_PSEUDONYM_KEY" in done.stderr
    assert not (workspace.store_dir / "manifest.json").exists()


def test_the_key_file_is_used_when_the_environment_has_none(workspace: Settings) -> None:
    from bawaba.ingest.pseudonym import ensure_key_file, load_key

    keyless = workspace.model_copy(update={"pseudonym_key": None})
    assert ensure_key_file(keyless)
    assert not ensure_key_file(keyless), "an existing key file must never be overwritten"
    assert len(load_key(keyless)) >= 32
    assert keyless.pseudonym_key_file.stat().st_mode & 0o777 == 0o600
    done = _run_pipelines(keyless, None)
    assert done.returncode == 0, done.stderr
    assert "pseudonym key" not in done.stderr


def test_no_module_hashes_identifiers_without_a_key() -> None:
    """Plain hashes of IDs or phone numbers are reversible by enumeration (PRIVACY.md)."""
    allowed = {
        "fsutil.py",  # sha256 of files' bytes, for manifests and the ledger
        "caching.py",  # digests of API query strings, for ETags (no personal data there)
        "seen.py",  # delivery references, under seeds drawn per run, kept in memory only
        "firsts.py",  # a digest of row counts per store part and month: no identifier
    }
    offenders = []
    for path in (ROOT / "platform" / "bawaba").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in (
            "hashlib.sha",
            "hashlib.md5",
            "hashlib.blake",
            "hashlib.new(",
            "xxhash",
            ".hash(",
            "hash_rows",
        ):
            if call in text and path.name not in allowed:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert offenders == [], offenders
