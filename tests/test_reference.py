"""The shipped reference data: the facts it must hold, and the checks that guard it."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from bawaba.reference import ELECTRONIC_CHANNELS, Code, Reference, load_reference

ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")

# The entities DESIGN.md names among the 25 that pay through the ePay gateway.
NAMED_ENTITIES = {
    "DP": "Dubai Police",
    "RTA": "Roads and Transport Authority",
    "DEWA": "Dubai Electricity and Water Authority",
    "DM": "Dubai Municipality",
    "DLD": "Dubai Land Department",
    "DED": "Department of Economic Development",
    "DTCM": "Department of Tourism and Commerce Marketing",
    "DCAA": "Dubai Civil Aviation Authority",
    "MBRHE": "Mohammed Bin Rashid Housing Establishment",
    "DAFZA": "Dubai Airport Free Zone Authority",
}


@pytest.fixture(scope="module")
def ref() -> Reference:
    return load_reference()


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def _all_codes(ref: Reference) -> Iterator[tuple[str, Code]]:
    """Every member of every code list, departments' services included."""
    for field in Reference.model_fields:
        for member in getattr(ref, field):
            yield field, member
    for service in ref.services:
        yield "services", service


def test_twenty_five_departments_with_unique_codes(ref: Reference) -> None:
    codes = [d.code for d in ref.departments]
    assert len(codes) == 25
    assert len(set(codes)) == 25


@pytest.mark.parametrize(("code", "en"), sorted(NAMED_ENTITIES.items()))
def test_named_entities_present(ref: Reference, code: str, en: str) -> None:
    assert ref.department(code).en == en


def test_over_250_services(ref: Reference) -> None:
    assert 250 <= len(ref.services) <= 300


def test_every_department_offers_services(ref: Reference) -> None:
    for dept in ref.departments:
        assert dept.services, dept.code
        assert all(not s.en.startswith("General service fee") for s in dept.services), dept.code


def test_dubai_municipality_has_76_online_services(ref: Reference) -> None:
    online = [s for s in ref.department("DM").services if s.online]
    assert len(online) == 76


def test_about_92_percent_of_services_online(ref: Reference) -> None:
    services = ref.services
    share = sum(s.online for s in services) / len(services)
    assert 0.90 <= share <= 0.94, f"online share {share:.1%}"


def test_service_codes_number_each_department_from_001(ref: Reference) -> None:
    for dept in ref.departments:
        expected = [f"{dept.code}-{n:03d}" for n in range(1, len(dept.services) + 1)]
        assert [s.code for s in dept.services] == expected


def test_service_channels_and_fees_are_coherent(ref: Reference) -> None:
    for s in ref.services:
        assert s.channels, s.code
        assert len(set(s.channels)) == len(s.channels), s.code
        if not s.online:
            assert s.channels == ("counter",), s.code
        else:
            assert any(c in ELECTRONIC_CHANNELS for c in s.channels), s.code
        if s.fee_aed is not None:
            assert s.fee_aed == s.typical_aed, s.code


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [
        ("DP-001", 300, 1000),  # traffic fine
        ("DP-002", 220, 220),  # good conduct certificate
        ("DEWA-001", 400, 1000),  # electricity and water bill
    ],
)
def test_typical_amounts_are_realistic(ref: Reference, code: str, low: float, high: float) -> None:
    service = next(s for s in ref.services if s.code == code)
    assert low <= service.typical_aed <= high


def test_every_label_is_filled_and_arabic_is_arabic(ref: Reference) -> None:
    for field, member in _all_codes(ref):
        assert member.en.strip(), (field, member.code)
        assert member.ar.strip(), (field, member.code)
        assert ARABIC_LETTER.search(member.ar), (field, member.code, member.ar)


def test_community_names_and_aliases_are_unique(ref: Reference) -> None:
    owner: dict[str, str] = {}
    for community in ref.communities:
        assert 1 <= len(community.aliases) <= 3, community.code
        for name in (community.en, community.ar, *community.aliases):
            key = _fold(name)
            assert key, community.code
            assert key not in owner, f"{name!r} in {community.code} and {owner.get(key)}"
            owner[key] = community.code


def test_no_spelling_points_at_two_communities(ref: Reference) -> None:
    """Feeds also write hyphens or underscores for spaces, and sometimes the code itself."""
    owner: dict[str, str] = {}
    for community in ref.communities:
        for name in (community.en, community.ar, community.code, *community.aliases):
            key = _fold(re.sub(r"[-_]", " ", name))
            assert owner.setdefault(key, community.code) == community.code, name


def test_dubai_communities_sit_in_dubai_sectors(ref: Reference) -> None:
    emirate_of = {s.code: s.emirate for s in ref.sectors}
    dubai = [c for c in ref.communities if c.code.startswith("DXB-")]
    assert len(dubai) >= 50
    for community in dubai:
        assert emirate_of[community.sector] == "DXB", community.code


def test_each_emirate_has_a_sector_and_each_other_emirate_a_community(ref: Reference) -> None:
    sector_emirates = {s.emirate for s in ref.sectors}
    assert sector_emirates == {e.code for e in ref.emirates}
    dubai_sectors = [s for s in ref.sectors if s.emirate == "DXB"]
    assert 8 <= len(dubai_sectors) <= 10
    communities = {c.code: c for c in ref.communities}
    for emirate in ref.emirates:
        if emirate.code in {"DXB", "UNKNOWN"}:
            continue
        assert communities[emirate.code].sector == emirate.code
        assert communities[emirate.code].en == emirate.en


# Each spoils one member of a valid dump and returns what the error must name.
Mutation = Callable[[dict[str, Any]], str]


def _unknown_category(data: dict[str, Any]) -> str:
    service = data["departments"][3]["services"][5]
    service["category"] = "lottery"
    return str(service["code"])


def _unknown_channel(data: dict[str, Any]) -> str:
    service = data["departments"][1]["services"][0]
    service["channels"] = ["internet", "carrier_pigeon"]
    return "carrier_pigeon"  # refused by the channel type itself, before the code lists


def _fee_differs_from_typical(data: dict[str, Any]) -> str:
    service = next(s for s in data["departments"][0]["services"] if s["fee_aed"] is not None)
    service["typical_aed"] = service["fee_aed"] + 1
    return str(service["code"])


def _online_without_electronic_channel(data: dict[str, Any]) -> str:
    service = data["departments"][0]["services"][0]
    service["channels"] = ["counter"]
    return str(service["code"])


def _foreign_service_code(data: dict[str, Any]) -> str:
    data["departments"][2]["services"][0]["code"] = "ZZZ-001"
    return "ZZZ-001"


def _unknown_sector(data: dict[str, Any]) -> str:
    community = data["communities"][0]
    community["sector"] = "DXB-99"
    return str(community["code"])


@pytest.mark.parametrize(
    "mutate",
    [
        _unknown_category,
        _unknown_channel,
        _fee_differs_from_typical,
        _online_without_electronic_channel,
        _foreign_service_code,
        _unknown_sector,
    ],
)
def test_models_reject_bad_data(ref: Reference, mutate: Mutation) -> None:
    data = copy.deepcopy(ref.model_dump(mode="json"))
    Reference.model_validate(data)  # the untouched dump round-trips
    culprit = mutate(data)
    with pytest.raises(ValidationError, match=re.escape(culprit)):
        Reference.model_validate(data)


def test_models_reject_unknown_fields(ref: Reference) -> None:
    data = copy.deepcopy(ref.model_dump(mode="json"))
    data["departments"][0]["services"][0]["colour"] = "blue"
    with pytest.raises(ValidationError, match="colour"):
        Reference.model_validate(data)
