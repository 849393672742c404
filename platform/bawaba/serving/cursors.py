"""Page cursors: where the next page starts, on the version the first page read.

A cursor carries the version, the offset and a fingerprint of the query it belongs to (the
dataset, the path and the parameters that choose rows, so it is refused anywhere else). Rows
are in a total order and versions never change, so an offset on a pinned version is exact:
pages neither overlap nor skip, even when a new version is published mid-way.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bawaba.serving.caching import canonical_query, fingerprint
from bawaba.serving.problems import BadParameter

_SHAPE = re.compile(r"(v\d+)\.(\d{1,12})\.([0-9a-f]{24})")
_HINT = (
    "use the next_cursor of the previous page unchanged, with the same filters, select and order"
)


@dataclass(frozen=True)
class Cursor:
    version: str
    offset: int
    query: str
    """Fingerprint of the query the cursor belongs to."""

    def encode(self) -> str:
        text = f"{self.version}.{self.offset}.{self.query}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def query_of(
    dataset_id: str, kind: str, items: Iterable[tuple[str, str]], ignore: frozenset[str]
) -> str:
    """The fingerprint a cursor of ``kind`` pages over ``dataset_id`` with these parameters
    carries; ``ignore`` names the parameters a page may change (the cursor itself, limit)."""
    return fingerprint(dataset_id, kind, canonical_query(items, ignore))


def decode(raw: str) -> Cursor:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _SHAPE.fullmatch(text)
    if not match:
        raise BadParameter("cursor: not a cursor this API gave out", hint=_HINT)
    return Cursor(match[1], int(match[2]), match[3])


def check(cursor: Cursor, query: str, version: str | None) -> None:
    if cursor.query != query:
        raise BadParameter("cursor: it belongs to another query", hint=_HINT)
    if version is not None and version != cursor.version:
        raise BadParameter(
            f"cursor: it reads version {cursor.version}, not {version}",
            hint="a cursor stays on the version its first page read; drop ?version= or start again",
        )
