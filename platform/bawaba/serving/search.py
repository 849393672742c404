"""Finding datasets in the catalog: words and facets, shared by the API and the portal."""

from __future__ import annotations

from bawaba.catalog.model import Catalog, Dataset


def matches(dataset: Dataset, text: str) -> bool:
    """Every word of ``text`` appears in the id, a title, the description or a field's name
    or title, in either language (case-insensitive)."""
    haystack = " ".join(
        [
            dataset.id,
            *dataset.title.model_dump().values(),
            *dataset.description.model_dump().values(),
            *(f.name for f in dataset.fields),
            *(t for f in dataset.fields for t in f.title.model_dump().values()),
        ]
    ).casefold()
    return all(word in haystack for word in text.casefold().split())


def from_department(dataset: Dataset, department: str) -> bool:
    """Holds data from ``department`` (its code); a dataset built from every department
    holds data from any of them."""
    return dataset.source_departments == "all" or department.upper() in dataset.source_departments


def select(
    catalog: Catalog,
    *,
    q: str | None = None,
    tier: str | None = None,
    topic: str | None = None,
    department: str | None = None,
) -> list[Dataset]:
    """The datasets that pass every filter given, in catalog order."""
    return [
        d
        for d in catalog.datasets
        if (tier is None or d.tier == tier)
        and (topic is None or topic in d.topics)
        and (department is None or from_department(d, department))
        and (q is None or matches(d, q))
    ]
