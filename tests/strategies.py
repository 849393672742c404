"""Hypothesis strategies for personal data, and for the values published files really hold.

Two families, for the two halves of the publish gate's promise:

* identifiers as departments type them: :func:`emirates_ids`, :func:`card_numbers`,
  :func:`ibans`, :func:`uae_mobiles`, :func:`uae_landlines`, :func:`emails` and
  :func:`plates_with_context` draw plain ASCII in a common layout, and :func:`styled`
  re-renders any of them the way real exports do (other digit scripts, odd dashes and
  spaces, full-width forms, invisible characters). :func:`pii_values` draws a styled value
  of any kind together with its kind;
* :func:`safe_values`: amounts, dates, months, quarters, timestamps, codes, percentages and
  counts, which the detectors must never flag.

Every strategy is itself tested in ``tests/test_strategies.py``.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from hypothesis import assume
from hypothesis import strategies as st

from bawaba.privacy.checksums import iban_check_digits, luhn_check_digit
from bawaba.privacy.detect import PiiKind

# Zero code point of each decimal digit block that departments' systems are seen to use.
DIGIT_SCRIPTS: dict[str, int] = {
    "ascii": 0x30,
    "arabic_indic": 0x660,
    "extended_arabic_indic": 0x6F0,
    "fullwidth": 0xFF10,
    "devanagari": 0x966,
}

# Rendered as nothing; each one must vanish under normalise().
INVISIBLES: tuple[str, ...] = (
    "\u00ad",  # soft hyphen
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # left-to-right embedding
    "\u202b",  # right-to-left embedding
    "\u202c",  # pop directional formatting
    "\u202d",  # left-to-right override
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2067",  # right-to-left isolate
    "\u2068",  # first strong isolate
    "\u2069",  # pop directional isolate
    "\ufeff",  # byte-order mark, zero-width no-break space
    "\u061c",  # Arabic letter mark
)

# Each becomes " " or "-" under normalise().
SPACES: tuple[str, ...] = (" ", "\u00a0", "\u2007", "\u2009", "\u202f", "\u3000")
DASHES: tuple[str, ...] = (
    "-",
    "\u2010",  # hyphen
    "\u2011",  # non-breaking hyphen
    "\u2012",  # figure dash
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\u2212",  # minus sign
    "\ufe63",  # small hyphen-minus
    "\uff0d",  # full-width hyphen-minus
    "\u0640",  # Arabic tatweel
)

ARABIC_WORDS: tuple[str, ...] = (
    "دفع",
    "رسوم",
    "المخالفات",
    "الخدمة",
    "مركز",
    "دبي",
    "المتعامل",
    "المبلغ",
    "تم",
    "إلى",
)
ENGLISH_WORDS: tuple[str, ...] = (
    "payment",
    "fee",
    "for",
    "the",
    "service",
    "customer",
    "paid",
    "ref",
    "Dubai",
    "contact",
    "on",
    "amount",
)

_ARABIC_LETTERS = "".join(chr(c) for c in range(0x0621, 0x064B) if c != 0x0640)


def _digits(size: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=size, max_size=size)


def _alnum(size: int) -> st.SearchStrategy[str]:
    return st.text(string.ascii_uppercase + string.digits, min_size=size, max_size=size)


def _letters(size: int) -> st.SearchStrategy[str]:
    return st.text(string.ascii_uppercase, min_size=size, max_size=size)


def _grouped(text: str, sizes: tuple[int, ...], separator: str) -> str:
    groups, start = [], 0
    for size in sizes:
        groups.append(text[start : start + size])
        start += size
    return separator.join(groups)


@st.composite
def emirates_ids(draw: st.DrawFn, *, valid_checksum: bool = True) -> str:
    """``784-YYYY-NNNNNNN-C`` or the same 15 digits without separators.

    With ``valid_checksum=False`` the check digit is arbitrary: the gate flags an Emirates
    ID whatever its checksum.
    """
    payload = f"784{draw(st.integers(1900, 2025))}{draw(_digits(7))}"
    check = luhn_check_digit(payload) if valid_checksum else draw(_digits(1))
    number = payload + check
    separator = draw(st.sampled_from(["-", " ", ""]))
    return _grouped(number, (3, 4, 7, 1), separator)


# Issuer prefixes (IIN ranges) and lengths; "other" stands for any issuer in 13-19 digits.
_CARD_BRANDS: dict[str, tuple[Callable[[], st.SearchStrategy[int]], tuple[int, ...]]] = {
    "visa": (lambda: st.just(4), (13, 16, 19)),
    "mastercard": (lambda: st.one_of(st.integers(51, 55), st.integers(2221, 2720)), (16,)),
    "amex": (lambda: st.sampled_from([34, 37]), (15,)),
    "discover": (lambda: st.sampled_from([6011, 65]), (16, 19)),
    "jcb": (lambda: st.integers(3528, 3589), (16, 17, 18, 19)),
    "diners": (lambda: st.just(36), (14,)),
    "unionpay": (lambda: st.just(62), (16, 17, 18, 19)),
    "other": (lambda: st.integers(1, 9), tuple(range(13, 20))),
}
# How each length is printed on the card; every group has at least three digits.
_CARD_LAYOUTS: dict[int, tuple[int, ...]] = {
    13: (4, 4, 5),
    14: (4, 6, 4),
    15: (4, 6, 5),
    16: (4, 4, 4, 4),
    17: (4, 4, 4, 5),
    18: (4, 4, 4, 6),
    19: (4, 4, 4, 4, 3),
}


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid card number of 13 to 19 digits, grouped as printed or contiguous."""
    brand = draw(st.sampled_from(sorted(_CARD_BRANDS)))
    prefix_strategy, lengths = _CARD_BRANDS[brand]
    prefix = str(draw(prefix_strategy()))
    length = draw(st.sampled_from(lengths))
    payload = prefix + draw(_digits(length - len(prefix) - 1))
    number = payload + luhn_check_digit(payload)
    separator = draw(st.sampled_from([" ", "-", ""]))
    # A 15-digit number starting 784 is reported as the Emirates ID it looks like.
    assume(not (length == 15 and number.startswith("784") and separator == ""))
    return _grouped(number, _CARD_LAYOUTS[length], separator)


# BBAN structures from the SWIFT IBAN registry for a few countries UAE payers bank in.
_BBANS: dict[str, Callable[[], st.SearchStrategy[str]]] = {
    "AE": lambda: _digits(19),
    "SA": lambda: st.tuples(_digits(2), _alnum(18)).map("".join),
    "GB": lambda: st.tuples(_letters(4), _digits(14)).map("".join),
    "DE": lambda: _digits(18),
    "FR": lambda: st.tuples(_digits(10), _alnum(11), _digits(2)).map("".join),
    "NL": lambda: st.tuples(_letters(4), _digits(10)).map("".join),
    "QA": lambda: st.tuples(_letters(4), _alnum(21)).map("".join),
    "KW": lambda: st.tuples(_letters(4), _alnum(22)).map("".join),
    "NO": lambda: _digits(11),
}


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """A mod-97 valid IBAN, UAE half the time, in print (groups of four) or electronic form."""
    country = draw(st.one_of(st.just("AE"), st.sampled_from(sorted(_BBANS))))
    bban = draw(_BBANS[country]())
    iban = country + iban_check_digits(country, bban) + bban
    if draw(st.booleans()):
        return iban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@st.composite
def uae_mobiles(draw: st.DrawFn) -> str:
    """A UAE mobile number: 05x, +971 5x, 00971 5x or 971 5x, variously grouped."""
    operator = draw(st.sampled_from("0245678")) if draw(st.booleans()) else draw(_digits(1))
    subscriber = draw(_digits(7))
    national = f"5{operator}"
    layout = draw(st.sampled_from(["3-4", "7", "3-2-2"]))
    rest = {
        "3-4": f"{subscriber[:3]} {subscriber[3:]}",
        "7": subscriber,
        "3-2-2": f"{subscriber[:3]} {subscriber[3:5]} {subscriber[5:]}",
    }[layout]
    prefix = draw(st.sampled_from(["0", "+971 ", "00971 ", "971 ", "+971", "+971 (0)"]))
    if prefix == "0" and draw(st.booleans()):
        return f"0{national}{subscriber}"
    return f"{prefix}{national} {rest}"


@st.composite
def uae_landlines(draw: st.DrawFn) -> str:
    """A UAE landline: 0A XXX XXXX or +971 A XXX XXXX, A an area code (2, 3, 4, 6, 7, 9)."""
    area = draw(st.sampled_from("234679"))
    subscriber = draw(_digits(7))
    prefix = draw(st.sampled_from(["0", "+971 ", "00971 ", "+971-"]))
    separator = draw(st.sampled_from([" ", "-", ""]))
    return f"{prefix}{area}{separator}{subscriber[:3]}{separator}{subscriber[3:]}"


_LOCAL_SPECIALS = "!#$%&'*+/=?^_`{|}~-"
_LOCAL_ATOM = st.text(
    string.ascii_letters + string.digits + _LOCAL_SPECIALS, min_size=1, max_size=12
)
_DOMAIN_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,10}[a-z0-9])?", fullmatch=True)


@st.composite
def emails(draw: st.DrawFn) -> str:
    """An address with an RFC 5322 dot-atom local part (``*``, ``'``, ``+tags``, dots)."""
    local = ".".join(draw(st.lists(_LOCAL_ATOM, min_size=1, max_size=3)))
    if draw(st.booleans()):
        local += "+" + draw(_LOCAL_ATOM)
    labels = draw(st.lists(_DOMAIN_LABEL, min_size=1, max_size=3))
    tld = draw(st.sampled_from(["ae", "com", "gov.ae", "org", "net", "co.uk"]))
    return f"{local}@{'.'.join([*labels, tld])}"


_PLATE_CONTEXTS = (
    "plate",
    "Plate",
    "PLATE NO.",
    "plate no:",
    "Plate number",
    "plate #",
    "plates:",
    "لوحة",
    "اللوحة:",
    "رقم اللوحة",
    "رقم اللوحة:",
)
_PLATE_EMIRATES = ("", "Dubai ", "DXB ", "Abu Dhabi ", "Sharjah ", "دبي ", "الشارقة ", "أبوظبي ")


@st.composite
def plates_with_context(draw: st.DrawFn) -> str:
    """A context word (plate, لوحة, ...) followed by a plate such as ``Dubai A 12345``."""
    context = draw(st.sampled_from(_PLATE_CONTEXTS))
    emirate = draw(st.sampled_from(_PLATE_EMIRATES))
    number = str(draw(st.integers(1, 99999)))
    code = draw(
        st.one_of(
            _letters(1),
            _letters(2),
            st.sampled_from(_ARABIC_LETTERS),
            st.integers(1, 50).map(str),
        )
    )
    body = draw(
        st.sampled_from([f"{code} {number}", f"{number} {code}", number])
        if not code.isdigit()
        else st.sampled_from([f"{code} {number}", number])
    )
    return f"{context} {emirate}{body}"


def _fullwidth(char: str) -> str:
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


@st.composite
def _styled(draw: st.DrawFn, values: st.SearchStrategy[str], separators: bool) -> str:
    value = draw(values)
    scripts = sorted(DIGIT_SCRIPTS.values())
    script = draw(st.sampled_from(scripts))
    mixed, widen, stretch = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    out: list[str] = []
    for i, char in enumerate(value):
        following = value[i + 1] if i + 1 < len(value) else ""
        if separators and char in " -" and value[i - 1 : i].isdigit() and following.isdigit():
            char = draw(st.sampled_from(SPACES + DASHES))
        elif char.isdigit():
            char = chr((draw(st.sampled_from(scripts)) if mixed else script) + int(char))
        elif widen:
            char = _fullwidth(char)
        out.append(char)
        if stretch and char in _ARABIC_LETTERS and following in _ARABIC_LETTERS and following:
            # Tatweel lengthens Arabic words in headings and hand-typed text.
            out.append("\u0640" * draw(st.integers(0, 2)))
    for _ in range(draw(st.integers(0, 3))):
        out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(INVISIBLES)))
    return "".join(out)


def styled(values: st.SearchStrategy[str], *, separators: bool = True) -> st.SearchStrategy[str]:
    """Re-render each drawn value the way departments' exports do.

    A space or hyphen between two digits becomes any space or dash, tatweel included (not
    with ``separators=False``, for e-mail addresses, whose hyphens are part of the value);
    digits move to one random script or to a mix of scripts; other ASCII may turn
    full-width; Arabic words may be stretched with tatweel; up to three invisible
    characters land anywhere. ``normalise()`` of the result is ``normalise()`` of the value,
    up to the kind of separator and tatweel.
    """
    return _styled(values, separators)


def _any_emirates_id() -> st.SearchStrategy[str]:
    return st.one_of(emirates_ids(), emirates_ids(valid_checksum=False))


def _any_phone() -> st.SearchStrategy[str]:
    return st.one_of(uae_mobiles(), uae_landlines())


_PII_KINDS: dict[PiiKind, Callable[[], st.SearchStrategy[str]]] = {
    "emirates_id": _any_emirates_id,
    "card_number": card_numbers,
    "iban": ibans,
    "phone": _any_phone,
    "email": emails,
    "plate": plates_with_context,
}


def _tagged(kind: PiiKind) -> st.SearchStrategy[tuple[PiiKind, str]]:
    values = styled(_PII_KINDS[kind](), separators=kind != "email")
    return st.tuples(st.just(kind), values)


def pii_values() -> st.SearchStrategy[tuple[PiiKind, str]]:
    """A styled identifier of any kind, with the kind the detectors must report."""
    return st.one_of(*(_tagged(kind) for kind in _PII_KINDS))


# --- Values that published files legitimately hold.

_CODES = (
    "DP-001",
    "RTA-012",
    "DEWA-001",
    "DXB-1",
    "DXB-AL-RIGGA",
    "AUH",
    "UNKNOWN",
    "0-50",
    "50-100",
    "500-1k",
    "1k-5k",
    "10k-50k",
    "50k+",
    "credit_card",
    "edirham_g2",
)


@st.composite
def _amounts(draw: st.DrawFn) -> str:
    # Totals run to billions; 10**10 keeps them below the 11 digits of 971 + a landline.
    whole = draw(st.one_of(st.integers(0, 10**6), st.integers(10**8, 10**10)))
    cents = draw(st.integers(0, 99))
    text = draw(
        st.sampled_from(
            [f"{whole:,}", f"{whole:,}.{cents:02d}", str(whole), f"{whole}.{cents:02d}"]
        )
    )
    return draw(st.sampled_from([text, f"-{text}", f"AED {text}", f"{text} درهم"]))


@st.composite
def _dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(2000, 2030))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    time = f"{hour:02d}:{minute:02d}:{second:02d}"
    zone = draw(st.sampled_from(["", "Z", "+04:00", ".123", ".123456+04:00"]))
    return draw(
        st.sampled_from(
            [
                str(year),
                f"{year}-{month:02d}",
                f"{year}-Q{(month + 2) // 3}",
                f"{year}-{month:02d}-{day:02d}",
                f"{year}-{month:02d}-{day:02d}T{time}{zone}",
                f"{year}-{month:02d}-{day:02d} {time}",
            ]
        )
    )


def _counts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 99999).map(str),
        st.floats(0, 100, allow_nan=False).map(lambda x: f"{x:.1f}%"),
    )


_SAFE_ATOMS = st.one_of(_amounts(), _dates(), st.sampled_from(_CODES), _counts())


@st.composite
def _sentences(draw: st.DrawFn) -> str:
    # Numbers separated by words, as in a title, description or error message.
    words = st.sampled_from(ENGLISH_WORDS + ARABIC_WORDS)
    parts = draw(st.lists(st.tuples(words, _SAFE_ATOMS), min_size=1, max_size=4))
    return " ".join(f"{word} {atom}" for word, atom in parts)


def safe_values() -> st.SearchStrategy[str]:
    """Strings a published file may hold that no detector may flag."""
    return st.one_of(_SAFE_ATOMS, _sentences())


def surrounding_text() -> st.SearchStrategy[str]:
    """Arabic and English words to embed a value in; no digits, no "@"."""
    made_up = st.text(string.ascii_letters + _ARABIC_LETTERS, min_size=1, max_size=8)
    words = st.one_of(st.sampled_from(ENGLISH_WORDS + ARABIC_WORDS), made_up)
    return st.lists(words, max_size=4).map(" ".join)
