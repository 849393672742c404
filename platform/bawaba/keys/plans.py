"""Plans: what a key may read, how fast and how much (``api_keys/plans.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bawaba.catalog.model import Catalog, Text
from bawaba.errors import ConfigError


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    title: Text
    price: Text
    description: Text
    rate_limits: str
    monthly_requests: int | None
    monthly_rows: int | None
    premium_datasets: Literal["all"] | tuple[str, ...]
    analytics: bool
    max_export_rows: int | None

    def reads(self, dataset_id: str) -> bool:
        """Whether the plan reads premium dataset ``dataset_id``."""
        return self.premium_datasets == "all" or dataset_id in self.premium_datasets


class Plans(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    plans: dict[str, Plan]

    def get(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise ConfigError(
                f"no plan {name!r}", hint=f"the plans are: {', '.join(self.plans)}"
            ) from None

    def reading(self, dataset_id: str) -> list[str]:
        """The plans that read premium dataset ``dataset_id``."""
        return [name for name, plan in self.plans.items() if plan.reads(dataset_id)]

    def with_analytics(self) -> list[str]:
        return [name for name, plan in self.plans.items() if plan.analytics]


def load_plans(path: Path, catalog: Catalog) -> Plans:
    """The plans, checked against the catalog: a plan naming a dataset that is not premium
    would promise what the API cannot give."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        plans = Plans.model_validate(
            {"plans": {name: {**body, "name": name} for name, body in raw["plans"].items()}}
        )
    except (OSError, KeyError, TypeError, yaml.YAMLError, ValidationError) as error:
        raise ConfigError(
            f"{path}: not a usable plans file: {error}",
            hint="see the comments at the top of api_keys/plans.yaml",
        ) from None
    premium = {d.id for d in catalog.datasets if d.tier == "premium"}
    for plan in plans.plans.values():
        if plan.premium_datasets != "all":
            unknown = sorted(set(plan.premium_datasets) - premium)
            if unknown:
                raise ConfigError(
                    f"{path}: plan {plan.name!r} names {', '.join(unknown)}, which are not "
                    "premium datasets of the catalog",
                    hint=f"the premium datasets are: {', '.join(sorted(premium))}",
                )
    return plans
