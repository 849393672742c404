"""Immutable dataset versions and the release pointer that makes them current.

``datasets/<id>/<version>/`` holds ``data.parquet``, ``manifest.json``,
``gate-report.json`` and, in versions published since the disclosure reports,
``disclosure.json`` (and since the change summaries, ``changes.json``: publish.changes);
a version folder is complete before it gets its name (staged, then renamed in one step)
and is never changed afterwards. ``datasets/current.json`` names the version of every
dataset that is current; replacing it is the one atomic step that switches a release, so
readers see all of the previous release or all of the new one. A folder that no release
names is the debris of a killed publish and is swept away by the next one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
from pydantic import BaseModel

from bawaba.fsutil import PUBLIC, fsync_dir, write_atomic

CURRENT = "current.json"
DATA = "data.parquet"
MANIFEST = "manifest.json"
GATE_REPORT = "gate-report.json"
DISCLOSURE = "disclosure.json"
"""The public disclosure report (publish.disclosure_report); absent from older versions."""
_VERSION = re.compile(r"^v(\d+)$")


class FileEntry(BaseModel):
    name: str
    bytes: int
    sha256: str


class VersionManifest(BaseModel):
    dataset: str
    version: str
    created_at: str
    rows: int
    files: list[FileEntry]
    schema_: list[dict[str, str]]
    lineage: dict[str, object]
    gate: dict[str, object]


class Release(BaseModel):
    release: str
    created_at: str
    datasets: dict[str, str]
    """Dataset id -> its current version."""
    published_rows: dict[str, list[int]] = {}
    """Ingestion run -> the periods of its rows this release publishes (see revisions.py)."""
    services: dict[str, str] = {}
    """Every e-service code a release has published rows of -> the code it is published
    under (itself, or its department's ``<DEPT>-OTHER``): kept by every later release, so a
    published period is never refolded."""


def read_release(root: Path) -> Release | None:
    path = root / CURRENT
    if not path.exists():
        return None
    return Release.model_validate_json(path.read_bytes())


def read_manifest(root: Path, dataset: str, version: str) -> VersionManifest:
    return VersionManifest.model_validate_json((root / dataset / version / MANIFEST).read_bytes())


def versions_of(root: Path, dataset: str) -> list[str]:
    """Version folders of ``dataset``, oldest first."""
    folder = root / dataset
    found = [
        (int(m.group(1)), p.name)
        for p in folder.glob("v*")
        if p.is_dir() and (m := _VERSION.match(p.name))
    ]
    return [name for _, name in sorted(found)]


def next_version(root: Path, dataset: str) -> str:
    existing = versions_of(root, dataset)
    return f"v{int(existing[-1][1:]) + 1}" if existing else "v1"


def install_version(staged: Path, root: Path, dataset: str, version: str) -> Path:
    """Give a complete staged folder its version name (an atomic rename)."""
    target = root / dataset / version
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(target)
    fsync_dir(target.parent)
    return target


def encode_release(release: Release) -> bytes:
    """The bytes of ``current.json``, the same wherever it is stored."""
    return orjson.dumps(release.model_dump(mode="json"), option=orjson.OPT_INDENT_2)


def switch_release(root: Path, release: Release) -> None:
    write_atomic(root / CURRENT, encode_release(release), PUBLIC)


def sweep(root: Path, current: Release | None, keep: int) -> None:
    """Remove unnamed debris, and all but the newest ``keep`` versions of each dataset
    (the current one included)."""
    shutil.rmtree(root / ".staging", ignore_errors=True)
    named = current.datasets if current else {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        live = named.get(folder.name)
        live_number = int(live[1:]) if live else 0
        numbers = [int(v[1:]) for v in versions_of(root, folder.name)]
        # Anything newer than the current version was installed by a publish that never
        # switched: it was never visible, so it never happened.
        older = [n for n in numbers if n < live_number]
        doomed = [n for n in numbers if n > live_number] + older[: max(0, len(older) - keep + 1)]
        for number in doomed:
            shutil.rmtree(folder / f"v{number}")
