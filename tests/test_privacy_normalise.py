"""normalise(): every digit script folds to ASCII, invisibles vanish, dashes and spaces unify."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bawaba.privacy.normalise import fold_digits, normalise
from strategies import DASHES, DIGIT_SCRIPTS, INVISIBLES, SPACES


def _by_category() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for cp in range(sys.maxunicode + 1):
        if not 0xD800 <= cp <= 0xDFFF:
            found.setdefault(unicodedata.category(chr(cp)), []).append(chr(cp))
    return found


_CATEGORIES = _by_category()
ALL_DECIMAL_DIGITS = _CATEGORIES["Nd"]
ALL_DASHES = _CATEGORIES["Pd"]
ALL_SPACES = _CATEGORIES["Zs"] + _CATEGORIES["Zl"] + _CATEGORIES["Zp"]
ALL_FORMAT = _CATEGORIES["Cf"]


def _hex(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("DP-001 2013-12 1,234.50", "DP-001 2013-12 1,234.50"),
        ("٧٨٤-١٩٩٠-١٢٣٤٥٦٧-١", "784-1990-1234567-1"),  # Arabic-Indic
        ("۷۸۴۱۹۹۰۱۲۳۴۵۶۷۱", "784199012345671"),  # Extended Arabic-Indic (Persian, Urdu)
        ("０５０ １２３ ４５６７", "050 123 4567"),  # full-width
        ("०५०१२३४५६७", "0501234567"),  # Devanagari
        ("𝟎𝟓𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕", "0501234567"),  # mathematical bold, astral
        ("\U000104a0\U000104a5", "05"),  # Osmanya, astral and not folded by NFKC
        ("①②③ ²", "123 2"),  # circled and superscript digits (NFKC)
        ("05\u200b01\u00ad23\u2060456\ufeff7", "0501234567"),
        ("\u202e7654321050\u202c", "7654321050"),  # overrides go; logical order stays
        ("050\u2013123\u20144567", "050-123-4567"),  # en and em dash
        ("050ـ123ـ4567", "050-123-4567"),  # tatweel
        ("050\u2212123\ufe634567", "050-123-4567"),  # minus, small hyphen-minus
        ("050\u00a0123\u202f4567", "050 123 4567"),  # no-break and narrow no-break space
        ("a\tb\nc\r\nd", "a b c  d"),  # one space per white-space character
        ("a\x00b\x07c\x7fd", "abcd"),  # control characters
        ("١٬٢٣٤٫٥٠", "1,234.50"),  # Arabic thousands and decimal separators
        ("ＡＥ０７ ｘ＠ｙ．ａｅ", "AE07 x@y.ae"),  # full-width letters and punctuation
        ("ﻟﻮﺣﺔ", "لوحة"),  # Arabic presentation forms
        ("e\u200b\u0301", "\u00e9"),  # a dropped zero-width space lets é compose
        ("plate\U000e0041\U000e0042 A", "plate A"),  # tag characters
        ("A\ufe0f\u034fB", "AB"),  # variation selector, combining grapheme joiner
    ],
)
def test_normalise_golden(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("char", INVISIBLES, ids=_hex)
def test_listed_invisible_characters_are_removed(char: str) -> None:
    assert normalise(f"05{char}01234567") == "0501234567"


def test_every_format_character_is_removed() -> None:
    assert [c for c in ALL_FORMAT if normalise(f"1{c}2") != "12"] == []


@pytest.mark.parametrize("char", sorted(set(DASHES) | set(ALL_DASHES)), ids=_hex)
def test_every_dash_becomes_hyphen_minus(char: str) -> None:
    assert normalise(f"1{char}2") == "1-2"


@pytest.mark.parametrize(
    "char", sorted(set(SPACES) | set(ALL_SPACES) | set("\t\n\r\v\f\x85")), ids=_hex
)
def test_every_space_becomes_one_space(char: str) -> None:
    assert normalise(f"1{char}2") == "1 2"


def test_every_decimal_digit_of_every_script_folds_to_ascii() -> None:
    wrong = [
        _hex(c)
        for c in ALL_DECIMAL_DIGITS
        if not normalise(c) == fold_digits(c) == str(unicodedata.decimal(c))
    ]
    assert wrong == []
    assert len(ALL_DECIMAL_DIGITS) > 600  # every script, astral ones included


@pytest.mark.parametrize("zero", DIGIT_SCRIPTS.values(), ids=list(DIGIT_SCRIPTS))
def test_the_scripts_departments_use_fold(zero: int) -> None:
    digits = "".join(chr(zero + d) for d in range(10))
    assert normalise(digits) == "0123456789"
    assert fold_digits(f"رقم {digits}") == "رقم 0123456789"


def test_fold_digits_changes_nothing_but_digits() -> None:
    assert fold_digits("AED ١٬٢٣٤ ـ\u200b") == "AED 1٬234 ـ\u200b"


def test_normalise_is_a_fixed_point_for_every_bmp_character() -> None:
    # Fold-NFKC-fold must not leave anything a second pass would change.
    unstable = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        once = normalise(chr(cp))
        if normalise(once) != once or not unicodedata.is_normalized("NFKC", once):
            unstable.append(f"U+{cp:04X}")
    assert unstable == []


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(st.text(st.characters(codec="ascii", exclude_categories=["Cc"])))
def test_printable_ascii_passes_through(text: str) -> None:
    assert normalise(text) == text


@given(st.text())
def test_output_has_no_invisible_or_exotic_digit_left(text: str) -> None:
    out = normalise(text)
    assert not any(unicodedata.category(c) in ("Cf", "Cc", "Zl", "Zp") for c in out)
    assert all(c in "0123456789" for c in out if unicodedata.category(c) == "Nd")
    assert all(c == " " for c in out if c.isspace())
