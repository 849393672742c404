"""ETags, conditional requests and the answer cache.

A dataset version never changes, so an answer is fully determined by the version it read
and the query it ran: that pair is the ETag, it is known before any query runs (a matching
``If-None-Match`` costs no DuckDB time), and an answer kept under it never goes stale.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from bawaba.serving.library import Published

# Current versions can be replaced by the next publish; pinned ones never change.
CURRENT_MAX_AGE = 60
PINNED_MAX_AGE = 31_536_000

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `ETag` sent in `If-None-Match` still holds."}
}
"""The OpenAPI answer of a path that honours ``If-None-Match``."""


def fingerprint(*parts: str, size: int = 12) -> str:
    """A short, stable digest of query text (request parameters, never personal data).
    Each part is framed by its length, so no split of the same characters into other parts
    gives the same digest."""
    digest = hashlib.blake2b(digest_size=size)
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
"""What percent-encoding leaves as it is (RFC 3986's unreserved characters)."""


def _escaped(text: str) -> str:
    if _UNRESERVED.fullmatch(text):
        return text  # most names and values: the same text, without quote's work
    return quote(text, safe="", encoding="utf-8", errors="surrogatepass")


def canonical_query(items: Iterable[tuple[str, str]], ignore: frozenset[str] = frozenset()) -> str:
    """The one key of a query: its decoded ``(name, value)`` pairs, sorted, each name and
    value percent-encoded in full. ``?a=1&b=2`` and ``?b=2&a=1`` share it, while a value
    holding ``&``, ``=`` or ``%`` can never read as another parameter: distinct queries get
    distinct keys. The ETag, the answer cache and the download cache all derive from it."""
    return "&".join(
        f"{_escaped(name)}={_escaped(value)}" for name, value in sorted(items) if name not in ignore
    )


def etag_for(published: Published, kind: str, query: str) -> str:
    """The answer's ETag: its version and a 128-bit digest of what was asked (a collision
    would serve one query's answer to another, so the digest is too long to search for)."""
    tag = fingerprint(published.dataset.id, published.version, kind, query, size=16)
    return f'"{published.version}-{tag}"'


def cache_control(published: Published) -> str:
    scope = "public" if published.dataset.tier == "open" else "private"
    if published.pinned:
        return f"{scope}, max-age={PINNED_MAX_AGE}, immutable"
    return f"{scope}, max-age={CURRENT_MAX_AGE}"


def not_modified(request: Request, etag: str) -> bool:
    """True when the caller already holds this answer (``If-None-Match``, weak compare)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in wanted


def caching_headers(published: Published, etag: str) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": cache_control(published),
        "X-Dataset-Version": published.version,
    }


class AnswerCache:
    """Encoded answers and their row counts by ETag, least recently used first out, bounded
    in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str) -> tuple[bytes, int] | None:
        with self._lock:
            found = self._items.get(etag)
            if found is not None:
                self._items.move_to_end(etag)
            return found

    def put(self, etag: str, body: bytes, rows: int) -> None:
        if len(body) > self.max_bytes // 8:
            return  # one large answer would push out many small ones
        with self._lock:
            if etag in self._items:
                return
            self._items[etag] = (body, rows)
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, (old, _) = self._items.popitem(last=False)
                self._bytes -= len(old)
