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


def _runtime_imports(tree: ast.Module) -> list[str]:
    """The modules a file imports when it runs: imports for the type checker alone are
    skipped, and ``from bawaba.x import y`` counts as importing ``bawaba.x.y`` too (``y`` may
    be a module)."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def package_imports(root: Path) -> dict[str, set[str]]:
    """Which of ``bawaba``'s subpackages each subpackage imports (at run time)."""
    top = root / "platform" / "bawaba"
    packages = {p.name for p in top.iterdir() if (p / "__init__.py").exists()}
    graph: dict[str, set[str]] = {name: set() for name in packages}
    for name in packages:
        for path in (top / name).rglob("*.py"):
            for module in _runtime_imports(ast.parse(path.read_text())):
                parts = module.split(".")
                if parts[0] == "bawaba" and len(parts) > 1 and parts[1] in packages - {name}:
                    graph[name].add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every package that can reach itself, with one path back to it (``[a, b, a]``)."""
    found: list[list[str]] = []
    for start in sorted(graph):
        paths = [[start, n] for n in sorted(graph[start])]
        seen: set[str] = set()
        while paths:
            path = paths.pop(0)
            if path[-1] == start:
                found.append(path)
                break
            if path[-1] in seen:
                continue
            seen.add(path[-1])
            paths += [[*path, n] for n in sorted(graph[path[-1]])]
    return found


def test_cycles_finds_a_loop_and_only_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    ]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_package_imports_itself_back() -> None:
    """Layers, not a tangle: a package can be read, tested and replaced without the ones
    built on it."""
    assert cycles(package_imports(ROOT)) == []


def test_the_read_side_imports_no_front_end() -> None:
    """The read side (and the backends under it) knows nothing of the web app or of the
    front ends built on it: they import it, never the other way round."""
    graph = package_imports(ROOT)
    front_ends = {"api", "portal", "ecosystem", "analytics"}
    assert graph["serving"] & front_ends == set()
    assert graph["core"] & (front_ends | {"serving", "publish", "keys"}) == set()
