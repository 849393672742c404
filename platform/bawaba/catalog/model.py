"""The typed shape of ``catalog.yaml``.

Closed vocabularies are ``Literal`` types, so an unknown tier, role or type is refused by
name. Rules that span fields (a dimension needs a code list, a measure a unit, the open tier
at least k = 10) live in ``bawaba.catalog.load`` so that every problem is reported at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as Attr

Tier = Literal["open", "premium"]
"""open: free for everyone; premium: keyed, finer-grained."""
Role = Literal["time", "dimension", "measure", "attribute", "flag"]
"""time: the period a row covers; dimension: a coded breakdown; measure: a number;
attribute: a descriptive value of reference data; flag: a marker such as suppression."""
FieldType = Literal["string", "integer", "decimal", "boolean", "date"]
Grain = Literal["day", "month", "quarter", "year", "hour_of_week", "none"]
Frequency = Literal["daily", "monthly", "quarterly", "annual", "irregular"]
CodeListName = Literal[
    "departments",
    "services",
    "service_categories",
    "channels",
    "payment_methods",
    "banks",
    "payer_types",
    "amount_bands",
    "emirates",
    "sectors",
    "communities",
]


def _number(bound: float | None) -> str | None:
    """A bound as written in the catalog: 0, not 0.0."""
    if bound is None:
        return None
    return str(int(bound)) if bound == int(bound) else str(bound)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Strict):
    """A text in both languages of the platform."""

    en: str
    ar: str


class Field(_Strict):
    name: str = Attr(pattern=r"^[a-z][a-z0-9_]*$")
    role: Role
    type: FieldType
    title: Text
    description: Text
    unit: str | None = None
    """Required for measures: transactions, payers, AED, percent, score, services…"""
    code_list: CodeListName | None = None
    """Required for dimensions: every value must belong to it."""
    additive: bool = False
    """A count or a sum that adds up across cells (audited for disclosure); not a ratio."""
    population: str | None = None
    """For an additive measure: the rows it counts or sums, when not the dataset's own."""
    minimum: float | None = Attr(
        default=None,
        description="The least value the field's definition allows (counts and amounts 0, "
        "a share 0); the gate fails a dataset with any value below it. Numeric fields only.",
    )
    maximum: float | None = Attr(
        default=None,
        description="The greatest value the field's definition allows (a share 100, "
        "hour_of_week 167); the gate fails a dataset with any value above it. Numeric "
        "fields only.",
    )

    @property
    def declared_range(self) -> str:
        """The range as a reader would write it, e.g. ``0–167`` or ``at least 0``."""
        low, high = (_number(b) for b in (self.minimum, self.maximum))
        if low is not None and high is not None:
            return f"{low}–{high}"
        if low is not None:
            return f"at least {low}"
        return f"at most {high}" if high is not None else "any value"


class Privacy(_Strict):
    k: int = Attr(description="Minimum distinct payers per published cell.")
    p: float = Attr(default=15.0, description="p% rule on per-payer sums.")
    max_dimensions: int = Attr(description="Dimensions crossed, besides time.")
    population: str = Attr(
        description="The rows the additive measures partition, e.g. epay_success; tables of "
        "the same population are linked and audited together."
    )
    restriction: dict[str, str] = Attr(
        default_factory=dict,
        description="When the table covers only part of its population: column -> value, "
        "e.g. payment_method: direct_debit.",
    )


class Licence(_Strict):
    title: str
    url: str


class Dataset(_Strict):
    id: str = Attr(pattern=r"^[a-z][a-z0-9-]*$")
    tier: Tier
    title: Text
    description: Text
    licence: str
    update_frequency: Frequency
    topics: tuple[str, ...]
    source_departments: Literal["all"] | tuple[str, ...] = "all"
    grain: Grain
    builder: str = Attr(description="The function in bawaba.publish.builders that builds it.")
    fields: tuple[Field, ...]
    sort_by: tuple[str, ...] = Attr(
        description="Row order in the Parquet: the columns people filter on first."
    )
    privacy: Privacy | None = None
    """None only for reference data that holds no payments."""
    weights: dict[str, float] | None = None
    """For an index built from other measures: measure -> weight (they sum to 1)."""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def by_role(self, *roles: Role) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.role in roles)


class Catalog(_Strict):
    publisher: Text
    licences: dict[str, Licence]
    topics: dict[str, Text]
    datasets: tuple[Dataset, ...]

    def dataset(self, dataset_id: str) -> Dataset:
        for d in self.datasets:
            if d.id == dataset_id:
                return d
        raise KeyError(dataset_id)
