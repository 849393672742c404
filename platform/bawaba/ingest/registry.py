"""Finds the department pipelines: one ``PIPELINE`` per file in the pipelines folder.

The folder is loaded as the package ``bawaba_pipelines`` so that department files can share
vendor formats through relative imports (``from ._vendors import ORACLE_CSV_AR``). Files whose
name starts with an underscore are support modules, not departments.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from bawaba.errors import ConfigError
from bawaba.ingest.declarations import Pipeline
from bawaba.reference import load_reference

PACKAGE = "bawaba_pipelines"


def _ensure_package(folder: Path) -> None:
    existing = sys.modules.get(PACKAGE)
    location = str(folder.resolve())
    if existing is not None and list(getattr(existing, "__path__", [])) == [location]:
        return
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_loader(PACKAGE, loader=None, is_package=True)
    assert spec is not None
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [location]
    sys.modules[PACKAGE] = package


def load_pipelines(folder: Path) -> dict[str, Pipeline]:
    """Every department pipeline in ``folder``, by department code."""
    if not folder.is_dir():
        raise ConfigError(
            f"pipelines folder {folder} does not exist",
            hint="set BAWABA_PIPELINES_DIR to the folder that holds one file per department",
        )
    _ensure_package(folder)
    known = {d.code for d in load_reference().departments}
    pipelines: dict[str, Pipeline] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(f"{PACKAGE}.{path.stem}")
        pipeline = getattr(module, "PIPELINE", None)
        if not isinstance(pipeline, Pipeline):
            raise ConfigError(
                f"{path} defines no PIPELINE",
                hint="a department file must assign PIPELINE = Pipeline(...)",
            )
        if pipeline.department not in known:
            raise ConfigError(
                f"{path}: unknown department {pipeline.department!r}",
                hint=f"valid departments: {', '.join(sorted(known))}",
            )
        if pipeline.department in pipelines:
            raise ConfigError(f"{path}: a second pipeline for {pipeline.department}")
        pipelines[pipeline.department] = pipeline
    return pipelines


def select(pipelines: dict[str, Pipeline], departments: list[str]) -> list[Pipeline]:
    """The pipelines named (all when none are), or an error naming the valid ones."""
    if not departments:
        return [pipelines[code] for code in sorted(pipelines)]
    wanted = [d.upper() for d in departments]
    unknown = [d for d in wanted if d not in pipelines]
    if unknown:
        raise ConfigError(
            f"no pipeline for {', '.join(unknown)}",
            hint=f"valid departments: {', '.join(sorted(pipelines))}",
        )
    return [pipelines[code] for code in wanted]
