"""One canonical form of text, so that PII patterns need to be written only once.

Departments type identifiers in every script and style: Arabic-Indic digits, full-width
forms, a zero-width space inside a phone number, a tatweel or an en dash between digit groups.
``[0-9]`` misses ``٧٨٤`` while ``int()`` accepts it, so a detector that matches raw text can
be walked around by accident or on purpose. Both S1 (sanitise) and S4 (the publish gate) run
:func:`normalise` first and match ASCII patterns on its output.

What :func:`normalise` does, in this order:

1. fold each character through one table: invisible characters (format characters, category
   Cf, and every other default-ignorable code point such as variation selectors and Hangul
   fillers) and control characters are removed; every kind of white space, line breaks
   included, becomes one ``" "``; every dash (category Pd), the minus signs and the Arabic
   tatweel become ``"-"``; every decimal digit of any script becomes its ASCII digit
   (``unicodedata.decimal``); the Arabic decimal and thousands separators become ``.`` and
   ``,``;
2. NFKC, which folds full-width letters, ligatures, circled and superscript digits and
   Arabic presentation forms;
3. the table again, for what NFKC produced (a compatibility dash becomes U+2014, say).

Folding before NFKC lets a removed zero-width character stop blocking a composition; folding
after it catches what NFKC introduces. The result is a fixed point: normalising twice gives
the same text (the tests check every BMP code point, and random text).

Known gaps, by design of a pattern matcher: look-alike letters from other scripts (Cyrillic
``А`` for Latin ``A``), letter ``O`` for digit ``0``, combining marks placed on digits, and
digits of scripts added to Unicode after the version Python ships with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["fold_digits", "normalise"]

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are not already format
# characters (Cf): rendered as nothing, so they can hide inside an identifier just as a
# zero-width space can.
_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # reserved, default-ignorable
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement and their reserved block
)

# Minus signs and dash look-alikes outside category Pd; tatweel stretches Arabic words and
# is typed between digit groups the way a hyphen is.
_EXTRA_DASHES = frozenset("\u0640\u02d7\u2043\u2212\u2796")

# The Arabic decimal separator and thousands separator, so an Arabic-script amount reads
# like an ASCII one rather than as one long run of digits.
_EXTRA_PUNCTUATION = {"\u066b": ".", "\u066c": ","}

# Past this many cached code points the table stops growing: input made of every code point
# costs time, never unbounded memory.
_CACHE_LIMIT = 100_000

_ASCII_NEEDS_FOLDING = re.compile(r"[\x00-\x1f\x7f]")

_Mapping = int | str | None


def _is_ignorable(codepoint: int) -> bool:
    return any(low <= codepoint <= high for low, high in _IGNORABLE_RANGES)


def _fold_char(char: str) -> _Mapping:
    """The table entry of one character: a replacement, ``None`` to drop it, or itself."""
    if char.isspace():
        return " "
    category = unicodedata.category(char)
    if category in ("Cf", "Cc") or _is_ignorable(ord(char)):
        return None
    if category == "Pd" or char in _EXTRA_DASHES:
        return "-"
    if category == "Nd":
        return str(unicodedata.decimal(char))
    return _EXTRA_PUNCTUATION.get(char, ord(char))


def _fold_digit(char: str) -> _Mapping:
    if unicodedata.category(char) == "Nd":
        return str(unicodedata.decimal(char))
    return ord(char)


class _LazyTable(dict[int, _Mapping]):
    """A ``str.translate`` table filled on first sight of each code point.

    Building the full table means asking ``unicodedata`` about 1.1 million code points
    (about a third of a second); text only ever uses a few hundred of them. Entries for
    astral characters (mathematical or Osmanya digits, tag characters) come for free.
    """

    def __init__(self, fold: Callable[[str], _Mapping]) -> None:
        super().__init__()
        self._fold = fold

    def __missing__(self, codepoint: int) -> _Mapping:
        value = self._fold(chr(codepoint))
        if len(self) < _CACHE_LIMIT:
            self[codepoint] = value
        return value


_TABLE = _LazyTable(_fold_char)
_DIGIT_TABLE = _LazyTable(_fold_digit)


def normalise(text: str) -> str:
    """Return the canonical form of ``text`` that every PII pattern is written against.

    Offsets reported by the detectors refer to this form, which can be shorter than the
    input (invisible characters are dropped) or longer (NFKC expands ligatures).
    """
    if text.isascii():
        # NFKC is the identity on ASCII; only control characters and white space change.
        if _ASCII_NEEDS_FOLDING.search(text) is None:
            return text
        return text.translate(_TABLE)
    folded = text.translate(_TABLE)
    composed = unicodedata.normalize("NFKC", folded)
    # normalize() hands back its argument when it was already NFKC: nothing new to fold.
    if composed is folded or composed.isascii():
        return composed
    return composed.translate(_TABLE)


def fold_digits(text: str) -> str:
    """Replace every decimal digit of any script by its ASCII digit and change nothing else.

    For parsing numbers (amounts, years) where the rest of the text must stay as it is.
    """
    if text.isascii():
        return text
    return text.translate(_DIGIT_TABLE)
