"""The public disclosure report of a dataset version: what protects its cells, never a value.

Written at publish time as ``disclosure.json`` beside the version's manifest and served as
is by ``GET /api/v1/datasets/{id}/versions/{v}/disclosure``. It says which rules were
applied, which other tables the audit treated as known together with this one (and on which
coordinates they add up), which side information the audit assumes a reader has, how many
cells were suppressed and why, and that the audit passed. Like the gate report it holds
counts, names and booleans only: no measure value, no interval width, no cell's
coordinates, so it can be public for every tier the dataset itself is readable in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson
from pydantic import BaseModel, Field

from bawaba.catalog.model import Dataset, Tier
from bawaba.disclosure import Relation
from bawaba.disclosure.attacker import SIDE_INFORMATION

__all__ = [
    "AuditSummary",
    "CellCounts",
    "DisclosureFacts",
    "DisclosureReport",
    "LinkedDataset",
    "Rules",
    "SideInformationItem",
    "build_report",
    "encode",
    "uncontrolled",
]

UNCONTROLLED_REASON = (
    "reference data: it holds no payment or payer, so no cell of it needs disclosure control"
)


class Rules(BaseModel):
    """The thresholds the table's cells were held to (PRIVACY.md, S2)."""

    k: int = Field(description="Minimum distinct payers in a published cell.")
    p: float = Field(description="The p% rule on per-contributor sums.")
    contributors: list[str] = Field(
        description="Whose contributions the p% rule compares: `payers` always; "
        "organisations such as banks where a cell is one organisation's total."
    )
    restriction: dict[str, str] = Field(
        description="The slice of its population the table covers (column -> value); "
        "empty when it covers all of it."
    )
    max_dimensions: int = Field(description="Dimensions crossed per table, besides time.")


class LinkedDataset(BaseModel):
    """Another published table the audit assumed known together with this one."""

    dataset: str = Field(description="The other dataset's id.")
    on: list[str] = Field(
        description="The common coordinates (derived ones included) on which the two "
        "tables' sums meet."
    )
    quantities: list[str] = Field(description="The quantities the two tables share.")
    kind: Literal["equation", "within"] = Field(
        description="`equation`: the two sums are equal on each value of `on`; `within`: "
        "one table is a slice of the other, so its sum is at most the other's."
    )
    part: str | None = Field(
        default=None, description="For `within`: the dataset that is the slice."
    )


class SideInformationItem(BaseModel):
    """One kind of fact the audit assumes a reader has."""

    id: str
    en: str
    ar: str


class CellCounts(BaseModel):
    """How many published rows, and how many of them were suppressed and why."""

    rows: int = Field(description="Rows in the published file.")
    primary: int = Field(description="Cells suppressed as sensitive on their own (k or p%).")
    secondary: int = Field(
        description="Cells suppressed so that no primary cell can be derived from the rest."
    )
    suppressed_share: float = Field(
        description="(primary + secondary) / rows, rounded to four places."
    )


class AuditSummary(BaseModel):
    """The linear-programming audit of what a reader can derive."""

    passed: bool = Field(description="Always true: a release whose audit fails is not published.")
    audited_cell_quantities: int = Field(
        description="Suppressed cell-quantities of this table whose intervals were audited."
    )
    release: str = Field(description="The release that published this version.")
    released_on: str = Field(description="The release's date (UTC), YYYY-MM-DD.")


class DisclosureReport(BaseModel):
    """The disclosure report of one dataset version."""

    dataset: str
    version: str
    tier: Tier
    controlled: bool = Field(description="False for reference data, which needs no control.")
    reason: str | None = Field(default=None, description="Why it is not controlled.")
    rules: Rules | None = None
    relations: list[LinkedDataset] = Field(default_factory=list)
    side_information: list[SideInformationItem] = Field(default_factory=list)
    cells: CellCounts | None = None
    audit: AuditSummary | None = None


@dataclass(frozen=True)
class DisclosureFacts:
    """What publishing learnt about one table under disclosure control, for its report."""

    primary: int = 0
    """Cells sensitive on their own."""
    audited_cell_quantities: int = 0
    restriction: Mapping[str, str] = field(default_factory=dict)
    """The restriction the audit applied (the catalog's, or the builder's)."""
    contributors: tuple[str, ...] = ("payers",)
    relations: tuple[Relation, ...] = ()
    """Every relation of the release naming the table."""


def _linked(name: str, facts: DisclosureFacts) -> list[LinkedDataset]:
    linked = []
    for r in facts.relations:
        linked.append(
            LinkedDataset(
                dataset=r.right if r.left == name else r.left,
                on=list(r.on),
                quantities=list(r.quantities),
                kind="within" if r.within else "equation",
                # A within relation names the slice on its left (disclosure.linked).
                part=r.left if r.within else None,
            )
        )
    return sorted(linked, key=lambda item: item.dataset)


def _side_information() -> list[SideInformationItem]:
    return [SideInformationItem(id=s.id, en=s.en, ar=s.ar) for s in SIDE_INFORMATION]


def build_report(
    dataset: Dataset,
    version: str,
    facts: DisclosureFacts,
    rows: int,
    suppressed: int,
    release: str,
    released_at: str,
) -> DisclosureReport:
    """The report of a table under disclosure control, as published in ``version``.

    ``suppressed`` is the number of rows flagged in the published file; the cells that are
    not primary among them were suppressed by secondary suppression or by the audit's rounds.
    """
    if dataset.privacy is None:
        return uncontrolled(dataset, version)
    privacy = dataset.privacy
    return DisclosureReport(
        dataset=dataset.id,
        version=version,
        tier=dataset.tier,
        controlled=True,
        rules=Rules(
            k=privacy.k,
            p=privacy.p,
            contributors=list(facts.contributors),
            restriction=dict(facts.restriction),
            max_dimensions=privacy.max_dimensions,
        ),
        relations=_linked(dataset.id, facts),
        side_information=_side_information(),
        cells=CellCounts(
            rows=rows,
            primary=facts.primary,
            secondary=suppressed - facts.primary,
            suppressed_share=round(suppressed / rows, 4) if rows else 0.0,
        ),
        audit=AuditSummary(
            passed=True,
            audited_cell_quantities=facts.audited_cell_quantities,
            release=release,
            released_on=released_at[:10],
        ),
    )


def uncontrolled(dataset: Dataset, version: str) -> DisclosureReport:
    """The report of reference data, which holds nothing disclosure control protects."""
    return DisclosureReport(
        dataset=dataset.id,
        version=version,
        tier=dataset.tier,
        controlled=False,
        reason=UNCONTROLLED_REASON,
    )


def encode(report: DisclosureReport) -> bytes:
    return orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
