"""The query string, decoded strictly.

Starlette decodes a query string leniently: a broken escape (``%ff``, an overlong ``%c0%af``,
a lone ``%``) becomes a replacement character or stays as it was, so a filter on it matches
nothing and the caller gets an empty 200 with no hint of why. The data paths read their
parameters here instead, and a parameter that is not percent-encoded UTF-8 text is a 400
naming it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from bawaba.serving.problems import BadParameter

_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HINT = (
    "percent-encode the UTF-8 bytes of the text (é is %C3%A9, a literal % is %25); "
    "control characters such as %00 are never valid"
)
_KEPT = "bawaba.query_items"


def query_items(request: Request) -> list[tuple[str, str]]:
    """The request's ``(name, value)`` pairs in order, as ``request.query_params`` would
    give them for a well-formed query string; a BadParameter for any other."""
    kept: list[tuple[str, str]] | None = request.scope.get(_KEPT)
    if kept is None:
        kept = decode_query(request.scope.get("query_string", b""))
        request.scope[_KEPT] = kept
    return kept


def decode_query(raw: bytes) -> list[tuple[str, str]]:
    items = []
    for field in raw.split(b"&"):
        if not field:
            continue
        raw_name, _, raw_value = field.partition(b"=")
        name = _decode(raw_name, f"parameter {raw_name.decode('latin-1')!r}: its name")
        items.append((name, _decode(raw_value, f"{name}: its value")))
    return items


def _decode(raw: bytes, what: str) -> str:
    if _BROKEN_ESCAPE.search(raw):
        raise BadParameter(f"{what} has a % not followed by two hex digits", hint=_HINT)
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter(f"{what} is not UTF-8 text once percent-decoded", hint=_HINT) from None
    if found := _CONTROL.search(text):
        raise BadParameter(f"{what} holds the control character U+{ord(found[0]):04X}", hint=_HINT)
    return text
