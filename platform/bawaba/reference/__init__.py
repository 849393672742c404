"""Reference data: the code lists every stage shares.

Departments and their e-services, channels, payment methods, banks, payer types, amount
bands and locations, each with English and Arabic labels. Published labels always come
from here, never from a department's feed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["internet", "mobile_app", "sms", "kiosk", "ivr", "call_centre", "counter"]
ELECTRONIC_CHANNELS: tuple[Channel, ...] = (
    "internet",
    "mobile_app",
    "sms",
    "kiosk",
    "ivr",
    "call_centre",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Code(_Frozen):
    """One member of a code list, with its labels."""

    code: str = Field(pattern=r"^[A-Za-z0-9_./+-]+$")
    en: str = Field(min_length=1)
    ar: str = Field(min_length=1)


class Service(Code):
    """An e-service of a department, with its fee schedule."""

    category: str
    online: bool = Field(description="Available through the electronic channels.")
    channels: tuple[Channel, ...]
    fee_aed: float | None = Field(
        default=None, gt=0, description="Fixed fee; None when the amount varies (bills, fines)."
    )
    typical_aed: float = Field(gt=0, description="Typical amount paid (the fee when fixed).")

    @model_validator(mode="after")
    def _consistent(self) -> Service:
        if self.fee_aed is not None and self.fee_aed != self.typical_aed:
            raise ValueError(f"{self.code}: a fixed fee is also its typical amount")
        if self.online != any(c in ELECTRONIC_CHANNELS for c in self.channels):
            raise ValueError(f"{self.code}: online must match the channels offered")
        return self


class Department(Code):
    kind: Literal["government", "non_government"]
    services: tuple[Service, ...]


class Sector(Code):
    """A planning sector of Dubai, or a whole other emirate (its own single sector)."""

    emirate: str


class Community(Code):
    """A community (district); raw feeds name it in English or Arabic, spelled many ways."""

    sector: str
    aliases: tuple[str, ...] = Field(
        default=(), description="Other spellings met in feeds, matched after normalisation."
    )


class Reference(_Frozen):
    departments: tuple[Department, ...]
    service_categories: tuple[Code, ...]
    channels: tuple[Code, ...]
    payment_methods: tuple[Code, ...]
    banks: tuple[Code, ...]
    payer_types: tuple[Code, ...]
    record_types: tuple[Code, ...]
    statuses: tuple[Code, ...]
    amount_bands: tuple[Code, ...]
    emirates: tuple[Code, ...]
    sectors: tuple[Sector, ...]
    communities: tuple[Community, ...]

    @model_validator(mode="after")
    def _closed_vocabularies(self) -> Reference:
        categories = codes(self.service_categories)
        channels = codes(self.channels)
        for dept in self.departments:
            for service in dept.services:
                if not service.code.startswith(f"{dept.code}-"):
                    raise ValueError(f"service {service.code} must start with {dept.code}-")
                if service.category not in categories:
                    raise ValueError(f"{service.code}: unknown category {service.category!r}")
                unknown = set(service.channels) - channels
                if unknown:
                    raise ValueError(f"{service.code}: unknown channels {sorted(unknown)}")
        emirates = codes(self.emirates)
        for sector in self.sectors:
            if sector.emirate not in emirates:
                raise ValueError(f"{sector.code}: unknown emirate {sector.emirate!r}")
        sectors = codes(self.sectors)
        for community in self.communities:
            if community.sector not in sectors:
                raise ValueError(f"{community.code}: unknown sector {community.sector!r}")
        for name in ("departments", "services", "communities"):
            members = [m.code for m in getattr(self, name)]
            if len(members) != len(set(members)):
                raise ValueError(f"duplicate codes in {name}")
        return self

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(s for d in self.departments for s in d.services)

    def department(self, code: str) -> Department:
        for dept in self.departments:
            if dept.code == code:
                return dept
        raise KeyError(code)


def codes(members: Iterable[Code]) -> frozenset[str]:
    return frozenset(m.code for m in members)


OTHER = "OTHER"


def other_code(department: str) -> str:
    """The code a department's rare e-services are published under together (see
    ``bawaba.publish.folding``): a valid member of the services code list."""
    return f"{department}-{OTHER}"


def _load_yaml(name: str) -> dict[str, object]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), f"{name} must hold a mapping"
    return data


@cache
def load_reference() -> Reference:
    """The shipped reference data, validated once per process."""
    return Reference.model_validate({**_load_yaml("codes.yaml"), **_load_yaml("departments.yaml")})
