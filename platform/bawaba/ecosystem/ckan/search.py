"""``package_search`` over the catalog: CKAN's ``q``/``fq`` terms, sorting, paging, facets.

CKAN hands these to Solr. The catalog is a few dozen datasets, so Bawaba matches them in
memory instead, over the same package dictionaries it answers with. The query language is
the part of Solr's that CKAN clients use: words (all must match), ``"phrases"``,
``field:value`` and ``field:"a value"`` terms, ``-`` to exclude, ``AND`` between terms, and
``*:*`` for everything. Anything else (``OR``, parentheses, ranges, wildcards inside words)
is a Search Query Error that says what is understood, never a silent wrong answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bawaba.catalog.model import Catalog, Dataset
from bawaba.ecosystem.ckan.envelope import SearchQueryError
from bawaba.ecosystem.ckan.params import PackageSearch

Package = dict[str, Any]

_TERM = re.compile(
    r'(?P<neg>[-+]?)(?:(?P<field>[a-z_]+):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))'
)


def indexed(
    package: Package, catalog: Catalog, dataset: Dataset, departments: list[str]
) -> Package:
    """``package`` with what search needs beside it: ``_text``, every word a user may look
    for (titles and descriptions in both languages, tags and their titles, column names
    and titles), and ``_departments``, the department organizations listing it."""
    words = [
        dataset.id,
        *dataset.title.model_dump().values(),
        *dataset.description.model_dump().values(),
        *dataset.topics,
        *(t for topic in dataset.topics for t in catalog.topics[topic].model_dump().values()),
        *(f.name for f in dataset.fields),
        *(t for f in dataset.fields for t in f.title.model_dump().values()),
    ]
    return {**package, "_text": " ".join(words).casefold(), "_departments": departments}


def _keywords(package: Package, field: str) -> list[str]:
    """The values of a keyword field of ``package``, as shown (matching ignores case)."""
    match field:
        case "name" | "id":
            values = [package["name"]]
        case "tags":
            values = [t["name"] for t in package["tags"]]
        case "organization":
            values = [package["organization"]["name"], *package["_departments"]]
        case "groups":
            values = [g["name"] for g in package["groups"]]
        case "res_format":
            values = [r["format"] for r in package["resources"]]
        case "license_id":
            values = [package["license_id"]]
        case "tier":
            values = [e["value"] for e in package["extras"] if e["key"] == "tier"]
        case _:  # pragma: no cover - FIELDS lists the cases above
            raise AssertionError(field)
    return [str(v) for v in values]


def _text(package: Package, field: str | None) -> str:
    """The searchable text of ``package`` (all of it, or of ``title``/``notes``)."""
    if field == "title":
        return " ".join(package["title_translated"].values()).casefold()
    if field == "notes":
        return " ".join(package["notes_translated"].values()).casefold()
    return str(package["_text"])


KEYWORD_FIELDS = (
    "name",
    "id",
    "tags",
    "organization",
    "groups",
    "res_format",
    "license_id",
    "tier",
)
TEXT_FIELDS = ("title", "notes", "text")
FACET_FIELDS = ("tags", "organization", "groups", "res_format", "license_id", "tier")
SORT_FIELDS = ("score", "name", "title_string", "metadata_modified", "metadata_created")


@dataclass(frozen=True)
class Term:
    field: str | None
    """None: the text of the whole package."""
    value: str
    negated: bool

    def matches(self, package: Package) -> bool:
        return self._holds(package) != self.negated

    def _holds(self, package: Package) -> bool:
        if self.field in KEYWORD_FIELDS:
            values = [v.casefold() for v in _keywords(package, self.field)]
            return bool(values) if self.value == "*" else self.value in values
        text = _text(package, None if self.field == "text" else self.field)
        return self.value == "*" or self.value in text


def parse_terms(text: str, parameter: str) -> list[Term]:
    """The terms of a ``q`` or ``fq`` text."""
    text = text.strip()
    if text in ("", "*:*", "*"):
        return []
    if re.search(r"[()\[\]{}]|\bOR\b|\bNOT\b|\|\||&&", text):
        raise SearchQueryError(
            f"{parameter}: {text!r} uses Solr syntax Bawaba does not support (OR, NOT, "
            'parentheses, ranges); write terms that must all hold: words, "phrases", '
            "field:value, and - to exclude"
        )
    terms = []
    position = 0
    for match in _TERM.finditer(text):
        gap = text[position : match.start()]
        if gap.strip():
            raise SearchQueryError(f"{parameter}: cannot read {gap.strip()!r} in {text!r}")
        position = match.end()
        value = match["phrase"] if match["phrase"] is not None else match["word"]
        if match["field"] is None and value == "AND":
            continue
        field = match["field"]
        if field is not None and field not in KEYWORD_FIELDS + TEXT_FIELDS:
            raise SearchQueryError(
                f"{parameter}: no field {field!r}; the fields are: "
                + ", ".join(KEYWORD_FIELDS + TEXT_FIELDS)
            )
        if "*" in value and value != "*":
            raise SearchQueryError(
                f"{parameter}: wildcards inside values ({value!r}) are not supported; "
                "words match anywhere in the text already"
            )
        terms.append(Term(field, value.casefold(), match["neg"] == "-"))
    if text[position:].strip():
        raise SearchQueryError(f"{parameter}: cannot read {text[position:].strip()!r}")
    return terms


def _score(package: Package, terms: Iterable[Term]) -> int:
    """Relevance: a word in the title counts most, then in tags or name, then elsewhere."""
    score = 0
    for term in terms:
        if term.field is not None or term.negated:
            continue
        if term.value in _text(package, "title"):
            score += 3
        elif any(
            term.value in k.casefold() for k in [*_keywords(package, "tags"), package["name"]]
        ):
            score += 2
        else:
            score += 1
    return score


def _sort_value(package: Package, *, field: str, scores: dict[str, int]) -> Any:
    match field:
        case "score":
            return scores[package["name"]]
        case "title_string":
            return package["title"].casefold()
        case _:
            return package[field] or ""


def _sorter(text: str) -> list[tuple[str, bool]]:
    """``sort`` as (field, descending) pairs."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        field, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if field not in SORT_FIELDS or direction not in ("asc", "desc"):
            raise SearchQueryError(
                f"sort: cannot sort by {part!r}; give `field asc|desc` with field one of: "
                + ", ".join(SORT_FIELDS)
            )
        keys.append((field, direction == "desc"))
    return keys


def _facets(
    found: Sequence[Package], params: PackageSearch
) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    if not params.facet:
        return facets, search_facets
    for field in params.facet_field:
        if field not in FACET_FIELDS:
            raise SearchQueryError(
                f"facet.field: cannot count {field!r}; the facet fields are: "
                + ", ".join(FACET_FIELDS)
            )
        counts: Counter[str] = Counter()
        for package in found:
            counts.update(set(_keywords(package, field)))
        ranked = [(v, n) for v, n in counts.most_common() if n >= params.facet_mincount]
        if params.facet_limit >= 0:
            ranked = ranked[: params.facet_limit]
        facets[field] = dict(ranked)
        search_facets[field] = {
            "title": field,
            "items": [{"name": v, "display_name": v, "count": n} for v, n in ranked],
        }
    return facets, search_facets


def search(packages: Sequence[Package], params: PackageSearch) -> dict[str, Any]:
    """CKAN's package_search result over ``packages``; each carries private keys for the
    search (see ``indexed``), which are left out of the answer."""
    terms = parse_terms(params.q, "q") + parse_terms(params.fq, "fq")
    for number, extra in enumerate(params.fq_list):
        terms += parse_terms(extra, f"fq_list[{number}]")
    found = [p for p in packages if all(t.matches(p) for t in terms)]
    scores = {p["name"]: _score(p, terms) for p in found}
    # Stable sorts from the last key to the first give a multi-key order with mixed
    # directions; the name is the final tie-break, so paging is deterministic.
    ordered = sorted(found, key=lambda p: p["name"])
    for field, descending in reversed(_sorter(params.sort)):
        ordered.sort(key=partial(_sort_value, field=field, scores=scores), reverse=descending)
    facets, search_facets = _facets(found, params)
    page = ordered[params.start : params.start + params.rows]
    return {
        "count": len(found),
        "sort": params.sort,
        "results": [{k: v for k, v in p.items() if not k.startswith("_")} for p in page],
        "facets": facets,
        "search_facets": search_facets,
    }
