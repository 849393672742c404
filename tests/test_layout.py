"""The project's shape: src layout that does not shadow the standard library."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT


def test_platform_folder_is_not_a_package() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_import_platform_gives_the_standard_library() -> None:
    # Run from the project root, where a `platform` package would win if it were one.
    probe = "import platform, sys; print(platform.__file__); print(platform.python_version())"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    location, version = done.stdout.split()
    assert Path(location).parent == Path(sysconfig.get_paths()["stdlib"])
    assert version == ".".join(map(str, sys.version_info[:3]))


def test_generated_data_is_ignored_by_git() -> None:
    for path in ("var/anything", "datasets/epay-annual/v1/part.parquet"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert done.returncode == 0, f"{path} is not git-ignored"
