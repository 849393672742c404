"""The project's shape: src layout that does not shadow the standard library, and every
package the platform imports declared."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import sysconfig
import tomllib
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


def _distribution(requirement: str) -> str:
    """``uvicorn[standard]>=1`` → ``uvicorn``, in the registry's normal form."""
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_platform_imports_is_declared_and_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # An extra a user installs for one feature (``bawaba[cluster]``) declares what only that
    # feature imports; the dev extra is the tests' and the type checker's.
    features = [
        r for name, rs in project["optional-dependencies"].items() if name != "dev" for r in rs
    ]
    declared = {_distribution(r) for r in [*project["dependencies"], *features]}
    pinned = {
        _distribution(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    providers = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "platform" / "bawaba").rglob("*.py"):
        tree = ast.parse(path.read_text())
        # Imports for the type checker alone (stubs) are the dev extra's, not the platform's.
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                imported |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.partition(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"bawaba", "__future__"}
    needed = {_distribution(d) for module in third_party for d in providers.get(module, [module])}
    assert needed - declared == set(), "imported but not declared in pyproject.toml"
    assert needed - pinned == set(), "imported but not pinned in constraints.txt"
