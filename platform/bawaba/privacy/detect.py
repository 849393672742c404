"""Find personal data in text: Emirates IDs, card numbers, IBANs, phones, e-mails, plates.

The publish gate (S4) runs :func:`scan` over every string it is about to publish and fails
closed on any finding; S1 uses the same patterns on free text it is about to drop. Both
promises pull in opposite directions, and the patterns are tuned for each:

* no false negatives on identifiers in any script or style. :func:`scan` normalises first
  (:mod:`bawaba.privacy.normalise`), so every pattern below matches ASCII digits, ``-`` and
  ``" "`` only;
* no false positives on what published files legitimately hold (amounts such as
  ``1,234.50`` or ``5600000000``, dates, months, quarters, ISO timestamps, codes such as
  ``DP-001`` or ``10k-50k``), because one false positive stops a release. Hence the checksum
  on card numbers, UAE shapes only for phones, and context words for plates.

A :class:`Finding` holds a kind and offsets, never the matched text, so a gate report built
from findings cannot leak the value it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import phonenumbers

from bawaba.privacy.checksums import iban_valid, luhn_valid
from bawaba.privacy.normalise import normalise

__all__ = ["KIND_TITLES", "Finding", "PiiKind", "contains_pii", "redact", "scan"]

PiiKind = Literal["emirates_id", "card_number", "iban", "phone", "email", "plate"]

KIND_TITLES: Final[Mapping[PiiKind, str]] = {
    "emirates_id": "Emirates ID number",  # flagged whatever its check digit
    "card_number": "payment card number",  # 13-19 digits passing Luhn
    "iban": "IBAN",  # mod-97 valid, or shaped like a UAE IBAN
    "phone": "phone number",  # UAE mobiles and landlines, valid international numbers
    "email": "e-mail address",
    "plate": "vehicle plate number",  # only after a context word such as "plate" or لوحة
}

# When two findings cover the same text, the more specific kind names it: an Emirates ID is
# also a Luhn-valid 15-digit number, one in ten numbers written 00971 4 123 4567 passes Luhn
# too, and an IBAN holds long digit runs.
_BY_PRIORITY: Final[tuple[PiiKind, ...]] = (
    "emirates_id",
    "iban",
    "phone",
    "card_number",
    "email",
    "plate",
)
_PRIORITY: Final[Mapping[PiiKind, int]] = {kind: rank for rank, kind in enumerate(_BY_PRIORITY)}


@dataclass(frozen=True, slots=True)
class Finding:
    """Where personal data of one kind sits in the normalised text; never the value itself."""

    kind: PiiKind
    start: int
    end: int

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]


# --- Emirates ID: 784-YYYY-NNNNNNN-C. The 784 prefix and the group lengths are specific
# enough to flag whatever the check digit, so a mistyped ID is caught too.
_EID_SEP = r"[ \-./]{0,3}"
_EMIRATES_ID = re.compile(
    rf"(?<![0-9])784{_EID_SEP}[0-9]{{4}}{_EID_SEP}[0-9]{{7}}{_EID_SEP}[0-9](?![0-9])"
)

# --- Card numbers: groups of at least three digits joined by single spaces or hyphens. A
# shorter group ends the chain: card layouts (4-4-4-4, 4-6-5, ...) never have one, while
# dates and times always do, so "2013-12-31 2014-01-31" is never read as 16 digits.
_CARD_CHAIN = re.compile(r"(?<![0-9])[0-9]{3,19}(?:[ \-][0-9]{3,19})*(?![0-9])")
_CARD_MIN, _CARD_MAX = 13, 19
_GROUP = re.compile(r"[0-9]+")

# --- IBAN: contiguous, or in the print format's groups of four.
_IBAN_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z]{2}[0-9]{2}"
    r"(?:[0-9A-Za-z]{11,30}|(?:[ \-][0-9A-Za-z]{4}){2,7}(?:[ \-][0-9A-Za-z]{1,4})?)"
    r"(?![0-9A-Za-z])"
)
_AE_SHAPED = re.compile(r"AE[0-9]{21}")
# SWIFT IBAN registry lengths. A known country is checked at its own length, so an IBAN
# followed by more text is still found; an unknown one at every group boundary.
_IBAN_LENGTHS: Final[Mapping[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN_MIN, _IBAN_MAX = 15, 34

# --- Phones: UAE mobiles (5x + 7 digits) and landlines (2, 3, 4, 6, 7, 9 + 7 digits), with
# the trunk 0, or 971 / +971 / 00971 (and the common stray "(0)" after it). One separator may
# sit between any two digits. Neither a digit, "+", "1." or "1," on either side, so the
# digits of an amount such as 0.501234567 or 12,0501234567 never count; "0." never starts one.
_PHONE = re.compile(
    r"(?<![0-9+])(?<![0-9][.,])"
    r"(?:"
    r"(?:(?:\+|00) ?)?971[ \-.]?(?:\(0\)[ \-.]?|0[ \-.]?)?(?:\(?5[ \-.]?[0-9]\)?|\(?[234679]\)?)"
    r"|\(?0[ \-]?(?:5[ \-.]?[0-9]|[234679])\)?"
    r")"
    r"(?:[ \-.]?[0-9]){7}(?![0-9]|[.,][0-9])"
)
# "9715012345.67" is a total of 9.7 billion dirhams, not +971 50 123 4567.
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\.[0-9]+")
# phonenumbers catches what the pattern above does not (runs of separators, slashes,
# numbers of other countries); its leniency also matches any long number, so a match counts
# only in a UAE shape or, with an explicit international prefix, as a valid number.
_UAE_DIGITS = re.compile(r"(?:00971|971|0)(?:5[0-9]{8}|[234679][0-9]{7})")
_UAE_NATIONAL = re.compile(r"5[0-9]{8}|[234679][0-9]{7}")
# Where phonenumbers may find more: after "+", or a number starting 0 or 971 that does not
# continue a date or an amount (the "05" of "2013-05-12" is not a start).
_PHONE_HINT = re.compile(
    r"\+[ (]*[0-9](?:[ \-.()/]*[0-9]){4,}"
    r"|(?<![0-9\-./,])\(?(?:0|971)(?:[ \-.()/]*[0-9]){7,}"
)
_PHONE_MIN_DIGITS = 8

# --- E-mail: an RFC 5322 local part, dotted or quoted, "*" and "'" and "+tags" included,
# then a domain with at least one dot. Square brackets are excluded from the local part so
# that a redaction marker never becomes part of a new match. The local part stops at RFC
# 5321's 64 characters, which also keeps a long token without "@" from costing quadratic
# time.
_EMAIL = re.compile(
    r"(?:\"[^\"\n]{1,64}\"|[^\s@<>()\[\]\\,;:\"]{1,64})"
    r"@[^\W_](?:[\w\-]*[^\W_])?(?:\.[^\W_](?:[\w\-]*[^\W_])?)+"
)


# --- Plates: a number of one to five digits is everywhere, so only a context word makes it
# a plate. A tatweel inside the Arabic words has become "-" by now.
def _tatweel_tolerant(word: str) -> str:
    return "-*".join(word)


_EMIRATES_ARABIC = (
    "دبي",
    "أبوظبي",
    "ابوظبي",
    "أبو ظبي",
    "ابو ظبي",
    "الشارقة",
    "عجمان",
    "أم القيوين",
    "ام القيوين",
    "رأس الخيمة",
    "راس الخيمة",
    "الفجيرة",
)
_EMIRATES = "|".join(
    [
        "dubai|abu ?dhabi|sharjah|ajman|umm ?al ?quwain|ras ?al ?khaimah|fujairah",
        "dxb|auh|shj|ajm|uaq|rak|fuj",
        *map(_tatweel_tolerant, _EMIRATES_ARABIC),
    ]
)
_PLATE_CODE = r"(?:[A-Za-z]{1,2}|[\u0621-\u064a]{1,2})"
_PLATE = re.compile(
    r"(?:\bplates?\b(?: ?(?:no|nos|nr|num|number)\b\.?| ?#)?"
    rf"|(?:{_tatweel_tolerant('رقم')} ?)?(?:{_tatweel_tolerant('ال')})?"
    rf"{_tatweel_tolerant('لوح')}-*[ةه])"
    rf"[\s:#.=\-]{{0,4}}(?:(?:{_EMIRATES})[\s,\-]{{0,2}})?"
    rf"(?P<plate>[0-9]{{1,5}}[ \-/]{{0,2}}{_PLATE_CODE}"
    rf"|(?:{_PLATE_CODE}|[0-9]{{1,2}})[ \-/]{{0,2}}[0-9]{{1,5}}"
    rf"|[0-9]{{1,5}})"
    r"(?![0-9A-Za-z\u0621-\u064a])",
    re.IGNORECASE,
)

# The full plate pattern tries every position; the context words are rare, so look first.
_PLATE_HINT = re.compile(r"plate|ل-*و-*ح", re.IGNORECASE)

# Every kind but e-mail needs a digit: most labels and codes stop here.
_WORTH_SCANNING = re.compile(r"[0-9@]")


def _digit_count(text: str) -> int:
    return sum(map(text.count, "0123456789"))


def _emirates_ids(text: str) -> Iterator[Finding]:
    if "784" not in text:
        return
    for match in _EMIRATES_ID.finditer(text):
        yield Finding("emirates_id", match.start(), match.end())


def _card_numbers(text: str) -> Iterator[Finding]:
    if _digit_count(text) < _CARD_MIN:
        return
    for chain in _CARD_CHAIN.finditer(text):
        if chain.end() - chain.start() < _CARD_MIN:
            continue
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, chain.start(), chain.end())]
        yield from _cards_in_run(text, groups)


def _cards_in_run(text: str, groups: list[tuple[int, int]]) -> Iterator[Finding]:
    """Every stretch of whole groups with 13-19 digits that passes Luhn.

    Stretches rather than the whole chain, so a card written next to another number
    ("ref 2222 4111 1111 1111 1111") is still found.
    """
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += text[groups[last][0] : groups[last][1]]
            if len(digits) > _CARD_MAX:
                break
            if len(digits) >= _CARD_MIN and luhn_valid(digits):
                yield Finding("card_number", groups[first][0], groups[last][1])


def _ibans(text: str) -> Iterator[Finding]:
    # A candidate in groups of four can run on into the next IBAN ("SA03 ... 7519 AE07 ..."),
    # so the search resumes right after what was found, or after the candidate's start.
    position = 0
    while (match := _IBAN_CANDIDATE.search(text, position)) is not None:
        position = match.start() + 1
        candidate = match.group()
        positions = [i for i, char in enumerate(candidate) if char not in " -"]
        compact = "".join(candidate[i] for i in positions).upper()
        for length in _iban_lengths(candidate, compact):
            prefix = compact[:length]
            if iban_valid(prefix) or (length == 23 and _AE_SHAPED.fullmatch(prefix)):
                position = match.start() + positions[length - 1] + 1
                yield Finding("iban", match.start(), position)
                break


def _iban_lengths(candidate: str, compact: str) -> list[int]:
    """The lengths at which ``compact`` may end: its country's, or any group boundary.

    Either way the whole candidate too, so a registry change never hides a valid IBAN.
    """
    known = _IBAN_LENGTHS.get(compact[:2])
    if known is not None:
        ends = [known]
    else:
        ends = [i - n for n, i in enumerate(j for j, char in enumerate(candidate) if char in " -")]
    ends.append(len(compact))
    return [n for n in ends if _IBAN_MIN <= n <= min(_IBAN_MAX, len(compact))]


def _phones(text: str) -> Iterator[Finding]:
    if _digit_count(text) < _PHONE_MIN_DIGITS:
        return
    covered: list[tuple[int, int]] = []
    for match in _PHONE.finditer(text):
        if _DECIMAL.fullmatch(match.group()) is None:
            covered.append(match.span())
            yield Finding("phone", match.start(), match.end())
    # phonenumbers costs about a millisecond on a long remark; ask it only about numbers
    # that look like phones and that the pattern above has not already found.
    if all(
        any(start <= hint.start() and hint.end() <= end for start, end in covered)
        for hint in _PHONE_HINT.finditer(text)
    ):
        return
    matcher = phonenumbers.PhoneNumberMatcher(text, "AE", leniency=phonenumbers.Leniency.POSSIBLE)
    for found in matcher:
        if _counts_as_phone(found.raw_string, found.number):
            yield Finding("phone", found.start, found.end)


def _counts_as_phone(raw: str, number: phonenumbers.PhoneNumber) -> bool:
    if _DECIMAL.fullmatch(raw) is not None:
        return False
    digits = "".join(char for char in raw if "0" <= char <= "9")
    if raw.startswith("+"):
        if number.country_code == 971:
            return _UAE_NATIONAL.fullmatch(str(number.national_number)) is not None
        return bool(phonenumbers.is_valid_number(number))
    if _UAE_DIGITS.fullmatch(digits) is not None:
        return True
    return digits.startswith("00") and bool(phonenumbers.is_valid_number(number))


def _emails(text: str) -> Iterator[Finding]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Finding("email", match.start(), match.end())


def _plates(text: str) -> Iterator[Finding]:
    if _PLATE_HINT.search(text) is None:
        return
    for match in _PLATE.finditer(text):
        yield Finding("plate", match.start("plate"), match.end("plate"))


def _scan_normalised(text: str) -> list[Finding]:
    if _WORTH_SCANNING.search(text) is None:
        return []
    found = [
        *_emirates_ids(text),
        *_card_numbers(text),
        *_ibans(text),
        *_phones(text),
        *_emails(text),
        *_plates(text),
    ]
    # Drop what another finding already covers; equal spans go to the more specific kind.
    found.sort(key=lambda f: (f.start, -f.end, _PRIORITY[f.kind]))
    kept: list[Finding] = []
    reach = -1
    for finding in found:
        if finding.end <= reach:
            continue
        kept.append(finding)
        reach = finding.end
    return kept


def scan(text: str) -> list[Finding]:
    """Every piece of personal data in ``text``, in order, with offsets into ``normalise(text)``.

    Findings may overlap (two card numbers sharing a group) but none lies inside another.
    """
    return _scan_normalised(normalise(text))


def contains_pii(text: str) -> bool:
    """Whether :func:`scan` finds anything in ``text``."""
    return bool(scan(text))


def redact(text: str) -> str:
    """``normalise(text)`` with each finding replaced by ``[kind]``; overlapping ones merge.

    For messages and logs about rejected input; published output is never redacted and
    shipped, it is refused.
    """
    normalised = normalise(text)
    pieces: list[str] = []
    cursor = 0
    for finding in _scan_normalised(normalised):
        if finding.start < cursor:
            # Overlaps the previous marker: extend what that marker covers.
            cursor = max(cursor, finding.end)
            continue
        pieces += [normalised[cursor : finding.start], f"[{finding.kind}]"]
        cursor = finding.end
    pieces.append(normalised[cursor:])
    return "".join(pieces)
