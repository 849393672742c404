"""PII detection: every pattern in every script is found; nothing published is flagged.

The publish gate fails closed on any finding, so both directions matter: a miss leaks
personal data, a false alarm stops a release of legitimate statistics.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bawaba.privacy.checksums import iban_check_digits, iban_valid, luhn_check_digit, luhn_valid
from bawaba.privacy.detect import KIND_TITLES, Finding, PiiKind, contains_pii, redact, scan
from bawaba.privacy.normalise import normalise
from strategies import (
    DIGIT_SCRIPTS,
    card_numbers,
    pii_values,
    safe_values,
    surrounding_text,
)

# --- Golden examples. Each is also checked in every digit script with invisible characters
# (see SCRIPTED below), so one line here is six cases.
GOLDEN: list[tuple[str, set[PiiKind]]] = [
    # Emirates ID: flagged whatever the check digit.
    ("784-1990-1234567-1", {"emirates_id"}),
    ("784199012345671", {"emirates_id"}),
    ("784 1990 1234567 1", {"emirates_id"}),
    ("784.1990.1234567.1", {"emirates_id"}),
    ("784/1990/1234567/1", {"emirates_id"}),
    ("784-1990-1234567-9", {"emirates_id"}),
    ("EID 784-1985-7654321-0 on file", {"emirates_id"}),
    ("ID784199012345671", {"emirates_id"}),
    # Card numbers: Luhn-valid only.
    ("4111 1111 1111 1111", {"card_number"}),
    ("4111111111111111", {"card_number"}),
    ("4111-1111-1111-1111", {"card_number"}),
    ("5500 0000 0000 0004", {"card_number"}),
    ("3782 822463 10005", {"card_number"}),  # Amex 4-6-5
    ("4222222222222", {"card_number"}),  # Visa, 13 digits
    ("6011 0009 9013 9424", {"card_number"}),
    ("ref 2222 4111 1111 1111 1111", {"card_number"}),  # card next to another number
    ("paid with card 4111111111111111.", {"card_number"}),
    ("4111 1111 1111 1112", set()),  # fails Luhn
    # IBAN: mod-97 valid, or UAE-shaped.
    ("AE07 0331 2345 6789 0123 456", {"iban"}),
    ("AE070331234567890123456", {"iban"}),
    ("ae07 0331 2345 6789 0123 456", {"iban"}),
    ("AE99 0331 2345 6789 0123 456", {"iban"}),  # invalid but AE-shaped
    ("GB82 WEST 1234 5698 7654 32", {"iban"}),
    ("GB82WEST12345698765432", {"iban"}),
    ("SA03 8000 0000 6080 1016 7519", {"iban"}),
    ("NO93 8601 1117 947", {"iban"}),
    ("IBAN: DE89 3704 0044 0532 0130 00 for refunds", {"iban"}),
    ("GB00 WEST 1234 5698 7654 32", set()),  # wrong check digits, not AE
    ("FY20 2013 AE07 0331 2345 6789 0123 456", {"iban"}),  # inside a longer candidate
    ("SA03 8000 0000 6080 1016 7519 AE07 0331 2345 6789 0123 456", {"iban"}),
    # Phones: UAE mobiles and landlines, any separators; valid international numbers.
    ("0501234567", {"phone"}),
    ("050 123 4567", {"phone"}),
    ("050-123-4567", {"phone"}),
    ("050.123.4567", {"phone"}),
    ("(050) 123 4567", {"phone"}),
    ("+971-50-123-4567", {"phone"}),
    ("+971501234567", {"phone"}),
    ("+971 (0)50 123 4567", {"phone"}),
    ("00971501234567", {"phone"}),
    ("00971 55 987 6543", {"phone"}),
    ("971 50 123 4567", {"phone"}),
    ("971501234567", {"phone"}),
    ("050 - 123 - 4567", {"phone"}),  # runs of separators: phonenumbers
    ("04 123 4567", {"phone"}),
    ("04-1234567", {"phone"}),
    ("+971 4 123 4567", {"phone"}),
    ("02 612 3456", {"phone"}),
    ("call me on 0561234567 please", {"phone"}),
    ("+44 20 7946 0958", {"phone"}),
    ("00971 70000000", {"phone"}),  # Luhn-valid too, but a phone first
    # E-mail.
    ("ahmed@example.ae", {"email"}),
    ("*@a.ae", {"email"}),
    ("o'brien+x@gov.ae", {"email"}),
    ("first.middle.last@dubai.gov.ae", {"email"}),
    ("user+tag-2013@mail.co.uk", {"email"}),
    ('"john doe"@example.com', {"email"}),
    ("contact: a_b@x-y.com.", {"email"}),
    # Plates: only with a context word.
    ("plate: Dubai A 12345", {"plate"}),
    ("Plate No. 12345 A", {"plate"}),
    ("plate number AA 1234", {"plate"}),
    ("plate Abu Dhabi 5 12345", {"plate"}),
    ("plate #12345", {"plate"}),
    ("رقم اللوحة: دبي أ 12345", {"plate"}),
    ("لوحة 12345 ب", {"plate"}),
    ("اللوحة الشارقة 3 4567", {"plate"}),
    ("Dubai A 12345", set()),  # no context: could be anything
    # Several at once.
    ("784-1990-1234567-1 0501234567 a@b.ae", {"emirates_id", "phone", "email"}),
]

# Values that published files legitimately hold: never flagged.
SAFE: list[str] = [
    "1,234.50",
    "5600000000",
    "4547829",
    "4400000000.00",
    "9715012345.67",
    "AED 4,400,000,000.00",
    "-1,234.50",
    "0.501234567",
    "2013-12-31",
    "2013-12",
    "2012-Q3",
    "2013",
    "2013-12-31T23:59:59",
    "2013-12-31T23:59:59+04:00",
    "2013-12-31T23:59:59.123456Z",
    "2013-12-31 23:59:59",
    "2013-04-12 12:00:00",
    "31/12/2013 23:59:59",
    "DP-001",
    "RTA-012",
    "DXB-1",
    "DXB-AL-RIGGA",
    "10k-50k",
    "50k+",
    "0-50",
    "500-1k",
    "12.5%",
    "100%",
    "42",
    "Traffic fine payment",
    "دفع المخالفات المرورية",
    "Plate number services",
    "Special plate numbers auction",
    "FY2013 annual payments by department",
    "Payments in 2013-12: 1,234.50 AED from 4547829 payers",
    "2013-12-01 to 2013-12-31",
    "",
]


def _in_script(text: str, zero: int) -> str:
    """``text`` with its ASCII digits moved to another script and invisibles sprinkled in."""
    moved = "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)
    # A zero-width space after the first digit and a bidi mark in front.
    return "\u200f" + re.sub(r"(\D*\d)", "\\1\u200b", moved, count=1)


SCRIPTED = [
    pytest.param(_in_script(text, zero), kinds, id=f"{name}:{text}")
    for name, zero in DIGIT_SCRIPTS.items()
    for text, kinds in GOLDEN
]


def _kinds(text: str) -> set[PiiKind]:
    return {finding.kind for finding in scan(text)}


@pytest.mark.parametrize(("text", "kinds"), [*GOLDEN, *SCRIPTED])
def test_golden_examples(text: str, kinds: set[PiiKind]) -> None:
    assert _kinds(text) == kinds


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("۷۸۴–۱۹۹۰–۱۲۳۴۵۶۷–۱", {"emirates_id"}),  # Persian digits, en dashes
        ("٠٥٠ـ١٢٣ـ٤٥٦٧", {"phone"}),  # tatweel between groups
        ("０５０\u3000１２３\u3000４５６７", {"phone"}),  # full-width, ideographic spaces
        ("＋９７１ ５０ １２３ ４５６７", {"phone"}),
        ("४१११ ११११ ११११ ११११", {"card_number"}),  # Devanagari
        ("𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", {"card_number"}),  # mathematical digits
        ("ＡＥ０７ ０３３１ ２３４５ ６７８９ ０１２３ ４５６", {"iban"}),
        ("ahmed\u200b@exam\u00adple.ae", {"email"}),
        ("ｏ＇ｂｒｉｅｎ＠ｇｏｖ．ａｅ", {"email"}),
        ("ر\u0640قم ال\u0640لوحة: د\u0640بي أ ١٢٣٤٥", {"plate"}),
        ("PLATE\u200b ١٢٣٤٥", {"plate"}),
        ("\u202b\u202d0501234567\u202c\u202c", {"phone"}),  # bidi embedding, override
        ("٥٦٠٠٠٠٠٠٠٠", set()),  # an Arabic-script total
        ("١٬٢٣٤٫٥٠", set()),  # Arabic separators
        ("٢٠١٣-١٢-٣١", set()),
    ],
)
def test_styles_seen_in_exports(text: str, kinds: set[PiiKind]) -> None:
    assert _kinds(text) == kinds


@pytest.mark.parametrize("text", SAFE)
def test_published_values_are_not_flagged(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize("text", SAFE)
def test_published_values_in_arabic_digits_are_not_flagged(text: str) -> None:
    assert scan(_in_script(text, DIGIT_SCRIPTS["arabic_indic"])) == []


def test_offsets_point_into_the_normalised_text() -> None:
    text = "\u200b\u200bرقم ٠٥٠١٢٣٤٥٦٧"
    [finding] = scan(text)
    assert normalise(text)[finding.start : finding.end] == "0501234567"


def test_a_finding_never_holds_the_value() -> None:
    [finding] = scan("card 4111111111111111")
    assert [f.name for f in dataclasses.fields(finding)] == ["kind", "start", "end"]
    assert "4111" not in repr(finding)
    assert finding.title == KIND_TITLES["card_number"]


def test_an_emirates_id_is_reported_once_not_also_as_a_card() -> None:
    eid = "784199012345676"
    assert luhn_valid(eid)
    assert scan(eid) == [Finding("emirates_id", 0, 15)]


def test_findings_are_ordered_and_none_lies_inside_another() -> None:
    findings = scan("a@b.ae ref 2222 4111 1111 1111 1111 0501234567@x.ae")
    assert findings == sorted(findings, key=lambda f: f.start)
    assert [f.kind for f in findings] == ["email", "card_number", "email"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call ٠٥٠ ١٢٣ ٤٥٦٧ now", "call [phone] now"),
        ("EID 784-1990-1234567-1, mail a@b.ae", "EID [emirates_id], mail [email]"),
        ("plate: Dubai A 12345", "plate: Dubai [plate]"),
        ("ref 2222 4111 1111 1111 1111", "ref 2222 [card_number]"),
        ("AE07 0331 2345 6789 0123 456 refund", "[iban] refund"),
        (
            "SA03 8000 0000 6080 1016 7519 AE07 0331 2345 6789 0123 456",
            "[iban] [iban]",
        ),
        ("DP-001 2013-12 1,234.50", "DP-001 2013-12 1,234.50"),
    ],
)
def test_redact_golden(text: str, expected: str) -> None:
    assert redact(text) == expected


# --- Checksums, which the card and IBAN rules stand on.


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("784199012345676", True),
        ("784199012345671", False),
        ("0", True),
        ("18", True),
        ("10", False),
    ],
)
def test_luhn_valid(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@given(st.text("0123456789", min_size=1, max_size=30))
def test_luhn_check_digit_makes_the_number_valid(payload: str) -> None:
    check = luhn_check_digit(payload)
    assert luhn_valid(payload + check)
    assert sum(luhn_valid(payload + d) for d in "0123456789") == 1


@pytest.mark.parametrize("bad", ["", "41 11", "٤١١١", "4111x", "-1"])
def test_luhn_refuses_anything_but_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        luhn_valid(bad)
    with pytest.raises(ValueError, match="ASCII digits"):
        luhn_check_digit(bad)


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("AE070331234567890123456", True),
        ("AE07 0331 2345 6789 0123 456", True),
        ("ae070331234567890123456", True),
        ("GB82WEST12345698765432", True),
        ("GB82WEST12345698765433", False),
        ("SA0380000000608010167519", True),
        ("AE07", False),
        ("", False),
        ("0007 0331 2345 6789 0123 456", False),
    ],
)
def test_iban_valid(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_iban_refuses_non_ascii() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        iban_valid("AE07-0331-2345-6789-0123-456")


@pytest.mark.parametrize(
    ("country", "bban", "check"),
    [("AE", "0331234567890123456", "07"), ("GB", "WEST12345698765432", "82")],
)
def test_iban_check_digits(country: str, bban: str, check: str) -> None:
    assert iban_check_digits(country, bban) == check


@pytest.mark.parametrize(("country", "bban"), [("A", "123"), ("AE", ""), ("AE", "12-3")])
def test_iban_check_digits_refuses_bad_input(country: str, bban: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        iban_check_digits(country, bban)


# --- Properties. scan() loads phone metadata on first use, hence no deadline.


@settings(deadline=None, max_examples=300)
@given(pii_values(), surrounding_text(), surrounding_text())
def test_any_styled_pii_in_any_text_is_found(
    pii: tuple[PiiKind, str], before: str, after: str
) -> None:
    kind, value = pii
    head, tail = f"{before} " if before else "", f" {after}" if after else ""
    text = head + value + tail
    normalised = normalise(text)
    assert normalised == normalise(head) + normalise(value) + normalise(tail)
    start = len(normalise(head))
    end = start + len(normalise(value))
    findings = [f for f in scan(text) if f.kind == kind]
    if kind == "plate":  # the context word is not part of the plate
        assert any(f.start < end and f.end > start for f in findings), findings
    else:
        assert any(f.start <= start and f.end >= end for f in findings), findings


@settings(deadline=None, max_examples=300)
@given(st.lists(st.one_of(pii_values().map(lambda pair: pair[1]), surrounding_text())))
def test_redacted_text_contains_no_pii(parts: list[str]) -> None:
    text = " ".join(parts)
    redacted = redact(text)
    assert not contains_pii(redacted)
    assert redact(redacted) == redacted
    assert contains_pii(text) == (redacted != normalise(text))


_DIGITISH = st.text(st.sampled_from("0123456789٠١٥٧۴ +-.,()/@:aeAE "), max_size=60)


@settings(deadline=None, max_examples=500)
@given(_DIGITISH)
def test_redaction_leaves_nothing_to_find_in_any_digit_soup(text: str) -> None:
    assert not contains_pii(redact(text))


@settings(deadline=None)
@given(card_numbers(), st.integers(1, 9))
def test_a_card_number_with_a_wrong_check_digit_is_not_a_card(card: str, shift: int) -> None:
    wrong = card[:-1] + str((int(card[-1]) + shift) % 10)
    assert Finding("card_number", 0, len(card)) in scan(card)
    # Only the whole number is refused: a run of its groups may pass Luhn by chance.
    assert Finding("card_number", 0, len(wrong)) not in scan(wrong)


@settings(deadline=None, max_examples=500)
@given(safe_values())
def test_safe_values_are_never_flagged(value: str) -> None:
    assert scan(value) == []
    assert scan(_in_script(value, DIGIT_SCRIPTS["extended_arabic_indic"])) == []


@given(st.text())
def test_scan_accepts_any_text(text: str) -> None:
    for finding in scan(text):
        assert 0 <= finding.start < finding.end <= len(normalise(text))
