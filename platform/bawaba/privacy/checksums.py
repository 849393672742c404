"""Check-digit arithmetic for card numbers, Emirates IDs (Luhn) and IBANs (ISO 7064 mod 97).

The detectors use these to tell a card number from a long total: any run of 13 to 19 digits
is a candidate, and only one in ten passes Luhn by chance. Inputs are expected in
:func:`bawaba.privacy.normalise.normalise` form (ASCII digits), and anything else is refused
loudly rather than read the way ``int()`` would read it.
"""

from __future__ import annotations

import re

__all__ = ["iban_check_digits", "iban_valid", "luhn_check_digit", "luhn_valid"]

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_ALNUM = re.compile(r"[0-9A-Za-z]+", re.ASCII)
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}", re.ASCII)
_COUNTRY = re.compile(r"[A-Za-z]{2}", re.ASCII)

# Luhn doubles every second digit from the right and adds the digits of the product.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)

# ISO 13616 reads A as 10, B as 11, ... Z as 35.
_LETTER_VALUES = {ord(c): str(10 + i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def _require_digits(value: str, what: str) -> None:
    if _DIGITS.fullmatch(value) is None:
        raise ValueError(f"{what} must be a non-empty string of ASCII digits")


def _luhn_sum(digits: str, *, double_rightmost: bool) -> int:
    total = 0
    double = double_rightmost
    for char in reversed(digits):
        digit = ord(char) - 48
        total += _DOUBLED[digit] if double else digit
        double = not double
    return total


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (check digit last) passes the Luhn check.

    Raises ``ValueError`` unless ``digits`` is a non-empty string of ASCII digits.
    """
    _require_digits(digits, "a Luhn number")
    return _luhn_sum(digits, double_rightmost=False) % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check.

    Raises ``ValueError`` unless ``payload`` is a non-empty string of ASCII digits.
    """
    _require_digits(payload, "a Luhn payload")
    return str(-_luhn_sum(payload, double_rightmost=True) % 10)


def _mod97(alnum: str) -> int:
    # Python integers are unbounded, so the piecewise reduction of ISO 7064 is not needed.
    return int(alnum.translate(_LETTER_VALUES)) % 97


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` has the generic IBAN shape and passes the mod-97 check.

    Spaces (the print format's groups of four) and letter case are ignored. The shape is two
    letters, two check digits and 11 to 30 letters or digits; country-specific lengths are
    the detector's business. Raises ``ValueError`` on any character that is not an ASCII
    letter, digit or space.
    """
    compact = iban.replace(" ", "")
    if _ALNUM.fullmatch(compact) is None:
        if not compact:
            return False
        raise ValueError("an IBAN must consist of ASCII letters, digits and spaces")
    compact = compact.upper()
    if _IBAN_SHAPE.fullmatch(compact) is None:
        return False
    return _mod97(compact[4:] + compact[:4]) == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of the IBAN of ``country`` (two letters) and ``bban``.

    Raises ``ValueError`` unless ``country`` is two ASCII letters and ``bban`` is a non-empty
    string of ASCII letters and digits.
    """
    if _COUNTRY.fullmatch(country) is None:
        raise ValueError("an IBAN country code must be two ASCII letters")
    if _ALNUM.fullmatch(bban) is None:
        raise ValueError("a BBAN must be a non-empty string of ASCII letters and digits")
    return f"{98 - _mod97((bban + country + '00').upper()):02d}"
