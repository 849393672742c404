"""Loads ``catalog.yaml`` and names every problem in it, not only the first.

Problems are data (a stable slug, where, a message) so ``bawaba catalog validate`` can list
them all and the loader can refuse a catalog with any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bawaba.catalog.model import Catalog, Field
from bawaba.errors import ConfigError
from bawaba.reference import load_reference

ARABIC = re.compile(r"[\u0600-\u06FF]")
MIN_K = {"open": 10, "premium": 5}
MAX_DIMENSIONS = {"open": 2, "premium": 3}


@dataclass(frozen=True)
class CatalogProblem:
    slug: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.slug}]"


def _structure_problems(error: ValidationError) -> list[CatalogProblem]:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        slug = {
            "extra_forbidden": "unknown-key",
            "missing": "missing-key",
            "literal_error": "unknown-value",
        }.get(item["type"], "invalid-value")
        problems.append(CatalogProblem(slug, where, item["msg"]))
    return problems


def _range_problems(f: Field, where: str) -> list[CatalogProblem]:
    """A declared range needs numbers to hold and a lower bound not above the upper: the
    gate fails every value outside it, so an inverted range would fail every release."""
    if f.minimum is None and f.maximum is None:
        return []
    if f.type not in ("integer", "decimal"):
        return [
            CatalogProblem(
                "range-not-numeric",
                where,
                f"minimum/maximum are for integer or decimal fields, not {f.type}",
            )
        ]
    if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
        return [
            CatalogProblem(
                "range-inverted",
                where,
                f"minimum {f.minimum:g} is greater than maximum {f.maximum:g}",
            )
        ]
    return []


def _rule_problems(catalog: Catalog) -> list[CatalogProblem]:
    problems: list[CatalogProblem] = []
    add = problems.append
    departments = {d.code for d in load_reference().departments}
    seen: set[str] = set()
    texts = [("publisher", catalog.publisher)] + [
        (f"topics.{name}", text) for name, text in catalog.topics.items()
    ]
    for ds in catalog.datasets:
        where = f"datasets.{ds.id}"
        if ds.id in seen:
            add(CatalogProblem("duplicate-id", where, "a second dataset with this id"))
        seen.add(ds.id)
        texts += [(f"{where}.title", ds.title), (f"{where}.description", ds.description)]
        if ds.licence not in catalog.licences:
            add(
                CatalogProblem(
                    "unknown-licence",
                    where,
                    f"licence {ds.licence!r}; valid: {sorted(catalog.licences)}",
                )
            )
        for topic in ds.topics:
            if topic not in catalog.topics:
                add(
                    CatalogProblem(
                        "unknown-topic", where, f"topic {topic!r}; valid: {sorted(catalog.topics)}"
                    )
                )
        if ds.source_departments != "all":
            for code in sorted(set(ds.source_departments) - departments):
                add(CatalogProblem("unknown-department", where, f"department {code!r}"))
        names = [f.name for f in ds.fields]
        for name in sorted({n for n in names if names.count(n) > 1}):
            add(CatalogProblem("duplicate-field", f"{where}.fields.{name}", "declared twice"))
        for f in ds.fields:
            fwhere = f"{where}.fields.{f.name}"
            texts += [(f"{fwhere}.title", f.title), (f"{fwhere}.description", f.description)]
            if f.role == "dimension" and f.code_list is None:
                add(
                    CatalogProblem(
                        "dimension-without-code-list", fwhere, "a dimension needs a code_list"
                    )
                )
            if f.role == "measure" and not f.unit:
                add(CatalogProblem("measure-without-unit", fwhere, "a measure needs a unit"))
            if f.role == "measure" and f.type not in ("integer", "decimal"):
                add(
                    CatalogProblem(
                        "measure-not-numeric",
                        fwhere,
                        f"a measure is integer or decimal, not {f.type}",
                    )
                )
        for f in ds.fields:
            problems += _range_problems(f, f"{where}.fields.{f.name}")
        for column in ds.sort_by:
            if column not in names:
                add(
                    CatalogProblem(
                        "unknown-sort-column",
                        where,
                        f"sort_by {column!r} is not a field; fields: {names}",
                    )
                )
        if ds.weights is not None:
            for measure in sorted(set(ds.weights) - set(names)):
                add(CatalogProblem("unknown-weight", where, f"weight for unknown {measure!r}"))
            if abs(sum(ds.weights.values()) - 1) > 1e-9:
                add(CatalogProblem("weights-not-one", where, "index weights must sum to 1"))
        has_payments = any(f.role == "measure" for f in ds.fields)
        if ds.privacy is None:
            if has_payments and ds.by_role("time"):
                add(
                    CatalogProblem(
                        "missing-privacy",
                        where,
                        "a dataset with measures over time needs privacy rules",
                    )
                )
            continue
        if ds.privacy.k < MIN_K[ds.tier]:
            add(
                CatalogProblem(
                    "k-too-low",
                    where,
                    f"k = {ds.privacy.k}; the {ds.tier} tier needs at least {MIN_K[ds.tier]}",
                )
            )
        crossed = len(ds.by_role("dimension"))
        limit = min(ds.privacy.max_dimensions, MAX_DIMENSIONS[ds.tier])
        if crossed > limit:
            add(
                CatalogProblem(
                    "too-many-dimensions",
                    where,
                    f"{crossed} dimensions crossed; the {ds.tier} tier allows {limit} besides time",
                )
            )
        if "suppressed" not in names:
            add(
                CatalogProblem(
                    "missing-suppression-flag",
                    where,
                    "a dataset under disclosure control declares a 'suppressed' flag",
                )
            )
    for where, text in texts:
        if not text.en.strip():
            add(CatalogProblem("missing-translation", where, "the English text is empty"))
        if not ARABIC.search(text.ar):
            add(
                CatalogProblem(
                    "missing-translation",
                    where,
                    "the Arabic text is empty or has no Arabic letters",
                )
            )
    return problems


def validate_catalog(path: Path) -> tuple[Catalog | None, list[CatalogProblem]]:
    """The catalog at ``path`` and every problem found in it."""
    if not path.is_file():
        return None, [CatalogProblem("missing-file", str(path), "no catalog file here")]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        return None, [CatalogProblem("not-yaml", str(path), str(error))]
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as error:
        return None, _structure_problems(error)
    return catalog, _rule_problems(catalog)


def load_catalog(path: Path) -> Catalog:
    """The catalog, or a ConfigError listing every problem."""
    catalog, problems = validate_catalog(path)
    if problems or catalog is None:
        listed = "; ".join(str(p) for p in problems[:10])
        raise ConfigError(
            f"{path} has {len(problems)} problem(s): {listed}",
            hint="run `bawaba catalog validate` for the full list",
        )
    return catalog
