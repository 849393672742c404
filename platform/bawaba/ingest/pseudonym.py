"""The payer pseudonym: a keyed HMAC-SHA256 of the payer's canonical identity.

A plain or salted hash of an Emirates ID or phone number can be reversed by enumerating
every possible value (all UAE mobiles take about a minute), so the pseudonym is keyed with a
secret that lives outside the repository. This module is the only holder of that key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from bawaba.errors import ConfigError
from bawaba.fsutil import create_secret_file
from bawaba.settings import Settings

MIN_KEY_BYTES = 32
# A key of 32+ bytes drawn from few distinct symbols ("aaaa…", "0123…0123") is a
# placeholder, not a secret.
MIN_DISTINCT_SYMBOLS = 12

_HINT = (
    "set BAWABA_PSEUDONYM_KEY to at least 32 random bytes, e.g. the output of "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`, or run `bawaba demo`, "
    "which generates one under var/secrets/"
)


def _check(key: bytes, origin: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the pseudonym key from {origin} is {len(key)} bytes; at least {MIN_KEY_BYTES} "
            "are required",
            hint=_HINT,
        )
    if len(set(key)) < MIN_DISTINCT_SYMBOLS:
        raise ConfigError(
            f"the pseudonym key from {origin} looks like a placeholder, not a random secret",
            hint=_HINT,
        )
    return key


def load_key(settings: Settings) -> bytes:
    """The pseudonym key, from the environment or the local key file; refuses a bad one."""
    if settings.pseudonym_key is not None:
        secret = settings.pseudonym_key.get_secret_value().strip().encode()
        return _check(secret, "BAWABA_PSEUDONYM_KEY")
    path = settings.pseudonym_key_file
    if path.is_file():
        return _check(path.read_bytes().strip(), str(path))
    raise ConfigError("no pseudonym key: the pipeline will not run without one", hint=_HINT)


def ensure_key_file(settings: Settings) -> bool:
    """Create a random key file for local use unless a key is configured; True if created."""
    if settings.pseudonym_key is not None:
        return False
    return create_secret_file(settings.pseudonym_key_file)


def pseudonyms(key: bytes, identities: Iterable[str]) -> list[bytes]:
    """HMAC-SHA256 of each canonical identity under ``key``."""
    return [hmac.digest(key, identity.encode(), "sha256") for identity in identities]
