"""ETags, conditional requests and the answer cache.

A dataset version never changes, so an answer is fully determined by the version it read
and the query it ran: that pair is the ETag, it is known before any query runs (a matching
``If-None-Match`` costs no DuckDB time), and an answer kept under it never goes stale.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable

from starlette.requests import Request

from bawaba.api.library import Published

# Current versions can be replaced by the next publish; pinned ones never change.
CURRENT_MAX_AGE = 60
PINNED_MAX_AGE = 31_536_000


def fingerprint(*parts: str) -> str:
    """A short, stable digest of query text (request parameters, never personal data)."""
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def canonical_query(items: Iterable[tuple[str, str]], ignore: frozenset[str] = frozenset()) -> str:
    """The query string in a canonical order, so that ``?a=1&b=2`` and ``?b=2&a=1`` share
    an ETag."""
    return "&".join(f"{k}={v}" for k, v in sorted(items) if k not in ignore)


def etag_for(published: Published, kind: str, query: str) -> str:
    tag = fingerprint(published.dataset.id, published.version, kind, query)
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
