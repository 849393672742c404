"""The strategies in tests/strategies.py draw what they promise, or the properties prove nothing."""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from bawaba.privacy.checksums import iban_valid, luhn_valid
from bawaba.privacy.detect import PiiKind
from bawaba.privacy.normalise import normalise
from strategies import (
    DIGIT_SCRIPTS,
    INVISIBLES,
    card_numbers,
    emails,
    emirates_ids,
    ibans,
    pii_values,
    plates_with_context,
    safe_values,
    styled,
    uae_landlines,
    uae_mobiles,
)

T = TypeVar("T")


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", normalise(text))


def _compact(text: str) -> str:
    """What survives every re-rendering styled() may do: no separators, no tatweel."""
    return re.sub(r"[ \-]", "", normalise(text))


def _can_draw(strategy: st.SearchStrategy[T], predicate: Callable[[T], bool]) -> None:
    """Fail unless ``strategy`` draws an example satisfying ``predicate`` (no shrinking)."""
    find(
        strategy,
        predicate,
        settings=settings(max_examples=2_000, phases=[Phase.generate], database=None),
    )


@given(emirates_ids())
def test_emirates_ids_are_784_year_serial_and_luhn_valid(value: str) -> None:
    digits = _digits(value)
    assert re.fullmatch(r"784(19|20)[0-9]{2}[0-9]{8}", digits)
    assert luhn_valid(digits)


@given(emirates_ids(valid_checksum=False))
def test_emirates_ids_with_any_checksum_keep_the_shape(value: str) -> None:
    assert re.fullmatch(r"784[ \-]?[0-9]{4}[ \-]?[0-9]{7}[ \-]?[0-9]", value)


def test_emirates_ids_with_any_checksum_include_invalid_ones() -> None:
    _can_draw(emirates_ids(valid_checksum=False), lambda v: not luhn_valid(_digits(v)))


@given(card_numbers())
def test_card_numbers_are_luhn_valid_with_13_to_19_digits(value: str) -> None:
    digits = _digits(value)
    assert 13 <= len(digits) <= 19
    assert luhn_valid(digits)
    assert all(len(group) >= 3 for group in re.split(r"[ \-]", value))


@pytest.mark.parametrize("prefix", ["4", "5", "2", "34", "37", "6011", "36"])
def test_card_numbers_cover_the_main_brands(prefix: str) -> None:
    _can_draw(card_numbers(), lambda v: v.startswith(prefix))


@given(ibans())
def test_ibans_are_mod97_valid(value: str) -> None:
    assert iban_valid(normalise(value))
    if value.startswith("AE"):
        assert re.fullmatch(r"AE[0-9]{21}", value.replace(" ", ""))


def test_ibans_include_uae_and_other_countries() -> None:
    _can_draw(ibans(), lambda v: v.startswith("AE") and " " in v)
    _can_draw(ibans(), lambda v: not v.startswith("AE") and any(c.isalpha() for c in v[4:]))


@given(uae_mobiles())
def test_uae_mobiles_have_a_uae_mobile_shape(value: str) -> None:
    assert re.fullmatch(r"(0|971|00971|9710)5[0-9]{8}", _digits(value))


@given(uae_landlines())
def test_uae_landlines_have_a_uae_landline_shape(value: str) -> None:
    assert re.fullmatch(r"(0|971|00971)[234679][0-9]{7}", _digits(value))


@given(emails())
def test_emails_have_a_local_part_and_a_dotted_domain(value: str) -> None:
    local, domain = value.split("@")
    assert local
    assert not local.startswith(".")
    assert not local.endswith(".")
    assert "." in domain


def test_emails_include_rfc_special_characters() -> None:
    _can_draw(emails(), lambda v: "'" in v and "+" in v)
    _can_draw(emails(), lambda v: v.startswith("*"))


@given(plates_with_context())
def test_plates_come_with_a_context_word_and_a_number(value: str) -> None:
    assert re.match(r"(plate|رقم اللوحة|اللوحة|لوحة)", value, re.IGNORECASE)
    assert re.search(r"[0-9]{1,5}", value)


@given(st.data())
def test_styled_values_normalise_back_to_the_value(data: st.DataObject) -> None:
    strategy = data.draw(
        st.sampled_from(
            [
                emirates_ids(),
                card_numbers(),
                ibans(),
                uae_mobiles(),
                uae_landlines(),
                plates_with_context(),
            ]
        )
    )
    value = data.draw(strategy)
    rendered = data.draw(styled(st.just(value)))
    assert _compact(rendered) == _compact(value)


@given(st.data())
def test_styled_emails_keep_their_punctuation(data: st.DataObject) -> None:
    value = data.draw(emails())
    assert normalise(data.draw(styled(st.just(value), separators=False))) == value


@pytest.mark.parametrize("zero", sorted(DIGIT_SCRIPTS.values()))
def test_styled_uses_every_digit_script(zero: int) -> None:
    _can_draw(styled(card_numbers()), lambda v: chr(zero + 4) in v or chr(zero + 5) in v)


def test_styled_inserts_invisible_characters_and_odd_separators() -> None:
    _can_draw(styled(uae_mobiles()), lambda v: any(c in v for c in INVISIBLES))
    _can_draw(styled(card_numbers()), lambda v: "\u0640" in v or "\u2013" in v)


@pytest.mark.parametrize("kind", typing.get_args(PiiKind))
def test_pii_values_cover_every_kind_in_other_scripts(kind: PiiKind) -> None:
    _can_draw(pii_values(), lambda pair: pair[0] == kind and not pair[1].isascii())


@given(safe_values())
def test_safe_values_contain_no_at_sign(value: str) -> None:
    assert "@" not in value


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?<![0-9,.])[0-9]{10,11}(?![0-9,])",  # a bare total of billions
        r"[0-9]{1,3}(,[0-9]{3}){3}\.[0-9]{2}",  # a grouped total with cents
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T",  # an ISO timestamp
        r"^[0-9]{4}-Q[1-4]$",  # a quarter
        r"^[0-9]{4}-[0-9]{2}$",  # a month
        r"^(DP-001|10k-50k|50k\+)$",  # codes
        r"%$",  # a percentage
        r"[0-9] [^0-9]+ [0-9]",  # numbers separated by words
    ],
)
def test_safe_values_include_the_hard_cases(pattern: str) -> None:
    _can_draw(safe_values(), lambda v: re.search(pattern, v) is not None)
