"""The key store's interface: API keys, their usage, and the keys that sign bearer tokens.

Two implementations: SQLite on one machine (``bawaba.keys.store``, the default) and
PostgreSQL for many replicas (``bawaba.keys.postgres_store``, with ``BAWABA_KEY_STORE_URL``).
``bawaba.keys.backends`` picks one from the settings. What they share lives here: a key's
form and state, usage counts, and the two Protocols the API and the CLI are written against.

A key reads ``bwb_<id>_<secret>``. The id (``client_id`` for OAuth) finds the row; the whole
key is checked against a stored keyed hash in constant time. The key itself is shown once,
when it is created or rotated, and never stored or logged; the prefix ``bwb_<id>`` names it.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bawaba.errors import BawabaError

KEY_SHAPE = re.compile(r"bwb_([a-z2-7]{12})_([A-Za-z0-9_-]{43})")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_key_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def new_key_text(key_id: str) -> str:
    """A fresh secret text for key ``key_id``, in KEY_SHAPE."""
    return f"bwb_{key_id}_{secrets.token_urlsafe(32)}"


class KeyNotFound(BawabaError):
    slug = "no-such-key"


@dataclass(frozen=True)
class ApiKey:
    id: str
    org: str
    plan: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def prefix(self) -> str:
        return f"bwb_{self.id}"

    def usable(self, now: datetime) -> bool:
        return now.timestamp() < self.usable_until()

    def usable_until(self) -> float:
        """Until when the key is usable, in epoch seconds: minus infinity once revoked,
        infinity if it never expires."""
        if self.revoked_at is not None:
            return -math.inf
        return math.inf if self.expires_at is None else self.expires_at.timestamp()

    def why_unusable(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return f"key {self.prefix} was revoked on {self.revoked_at:%Y-%m-%d %H:%M} UTC"
        return f"key {self.prefix} expired on {self.expires_at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Usage:
    requests: int = 0
    rows: int = 0
    bytes: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests, self.rows + other.rows, self.bytes + other.bytes
        )


def month_of(moment: datetime) -> str:
    # Not ``f"{moment:%Y-%m}"``: strftime costs 5 µs, and every keyed request asks.
    return f"{moment.year:04d}-{moment.month:02d}"


class KeyStore(Protocol):
    """API keys (keyed hashes of their secrets only) and their monthly usage."""

    def version(self) -> Hashable:
        """A value that changes whenever any key may have changed since this thread last
        asked, by this process or any other (``bawaba keys revoke``, another replica).
        Asked on every keyed request, so it must cost next to nothing; what the caller
        remembers about keys is good while it stays equal."""
        ...

    def create(self, org: str, plan: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
        """A new key and its secret text, which is shown once and never stored."""
        ...

    def get(self, key_id: str) -> ApiKey:
        """The key ``key_id`` as stored now, or KeyNotFound."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        ...

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key (revoking twice keeps the first time); KeyNotFound if absent."""
        ...

    def rotate(self, key_id: str) -> tuple[ApiKey, str]:
        """A new secret for the same key (same id, plan and usage); the old one stops
        working at once. A revoked key cannot be rotated (slug ``revoked-key``)."""
        ...

    def verify(self, key_id: str, presented: str) -> ApiKey | None:
        """The key ``key_id`` if ``presented`` is its current secret text; None otherwise,
        in the same time whether or not the id exists."""
        ...

    def add_usage(self, counts: dict[tuple[str, str, str], Usage]) -> None:
        """Add ``(key id, month, dataset) -> usage`` counts, all or none."""
        ...

    def usage(self, key_id: str, month: str) -> dict[str, Usage]:
        """The key's usage in ``month`` (``YYYY-MM``), by dataset."""
        ...


class SigningKeys(Protocol):
    """The secrets bearer tokens are signed with, ``{kid: secret}``, oldest first: the newest
    signs, the others still verify what they signed."""

    def version(self) -> Hashable:
        """Changes whenever the keys may have changed (cheap: asked on every token)."""
        ...

    def read(self) -> dict[str, str]:
        """The keys as stored now; empty if there are none yet."""
        ...

    def rotate(self, keep: int) -> str:
        """Add a new key that signs from now on, keep the newest ``keep``; its kid."""
        ...
