"""Bearer tokens: short-lived JWTs (HS256, joserfc) naming the key they were issued to.

Signing keys live in ``var/secrets/token-keys.json`` as ``{kid: secret}``, newest last, or
in the PostgreSQL key store with ``BAWABA_KEY_STORE_URL``, so that every replica signs and
verifies with the same ones (``bawaba.core.key_store.SigningKeys``). A token carries its
key's ``kid``; rotating adds a new signing key and keeps the one before, so tokens already
issued stay valid until they expire. Only HS256 is accepted: a token with
``alg: none`` or any other algorithm, a wrong signature, an unknown ``kid``, a wrong issuer
or audience, or a past ``exp`` is refused. The token says which key it belongs to; the key
store still decides, on every request, whether that key is usable.

A client sends the same token on every request until it expires, and checking it in full
(two parses, the HMAC, the claims) cost a third of a cached answer (bench/auth.py). So a
token that passed is remembered, and on its next use only what can change is checked
again: that it has not expired and that the signing keys have not changed since (any
rotation, in this process or another, checks every token in full once more). A token that
fails is never remembered.

If the keys file of one machine disappears under a running server, the server keeps the
keys it last read (and logs it): tokens already issued keep working, as they would have
until they expire, instead of every bearer request failing. The file is created anew at the
next start, which ends the tokens signed before; to end them at once, rotate twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Hashable
from pathlib import Path

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from bawaba.core.key_store import SigningKeys
from bawaba.fsutil import write_atomic

ISSUER = "bawaba"
AUDIENCE = "bawaba-api"
ALGORITHM = "HS256"
KEPT_SIGNING_KEYS = 2
log = logging.getLogger(__name__)
# Tokens remembered as valid; past this the oldest are forgotten (and checked in full again).
REMEMBERED_TOKENS = 10_000


class InvalidToken(Exception):
    """Why a bearer token was refused (said to the caller)."""


def new_kid() -> str:
    return f"k{int(time.time())}{secrets.token_hex(2)}"


class FileSigningKeys:
    """The signing keys of one machine: ``{kid: secret}`` in a JSON file, replaced whole."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def version(self) -> int:
        return self.path.stat().st_mtime_ns

    def read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        stored: dict[str, str] = orjson.loads(self.path.read_bytes())
        return stored

    def rotate(self, keep: int) -> str:
        stored = self.read()
        kid = new_kid()
        stored[kid] = secrets.token_urlsafe(48)
        kept = dict(list(stored.items())[-keep:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, orjson.dumps(kept), 0o600)
        return kid


class TokenIssuer:
    def __init__(self, signing_keys: SigningKeys | Path, lifetime_s: int) -> None:
        """Over ``signing_keys``; a path is a FileSigningKeys file."""
        self.signing = (
            FileSigningKeys(signing_keys) if isinstance(signing_keys, Path) else signing_keys
        )
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._seen: Hashable = None
        self._keys: dict[str, OctKey] = {}
        self._valid: dict[str, tuple[str, int, str, OctKey]] = {}
        """Tokens that passed in full -> (key id, exp, kid, the signing key as read), oldest
        first."""
        if not self.signing.read():
            self.rotate()

    def _signing_keys(self) -> dict[str, OctKey]:
        """The keys as stored, read again when another process (or replica) changed them."""
        try:
            version = self.signing.version()
        except FileNotFoundError:
            if not self._keys:
                raise
            if self._seen is not None:
                log.warning("the signing keys file is gone: signing with the keys read before")
                self._seen = None
            return self._keys
        if version != self._seen:
            with self._lock:
                stored = self.signing.read()
                self._keys = {kid: OctKey.import_key(secret) for kid, secret in stored.items()}
                self._seen = version
        return self._keys

    def rotate(self) -> str:
        """Add a new signing key and make it the one that signs; returns its kid."""
        return self.signing.rotate(KEPT_SIGNING_KEYS)

    def issue(self, key_id: str, plan: str) -> str:
        kid, key = list(self._signing_keys().items())[-1]
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": key_id,
            "plan": plan,
            "iat": now,
            "exp": now + self.lifetime_s,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode({"alg": ALGORITHM, "kid": kid}, claims, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> str:
        """The key id a valid token was issued to."""
        keys = self._signing_keys()
        known = self._valid.get(token)
        # Expired from its ``exp`` second on, as joserfc has it. The keys are read anew (new
        # objects) whenever the file changes, so a retired or replaced signing key fails the
        # identity test and its tokens are checked in full, and refused.
        if known is not None and int(time.time()) < known[1] and keys.get(known[2]) is known[3]:
            return known[0]
        remembered = self._verify_in_full(token)
        with self._lock:
            if len(self._valid) >= REMEMBERED_TOKENS:
                del self._valid[next(iter(self._valid))]
            self._valid[token] = remembered
        return remembered[0]

    def _verify_in_full(self, token: str) -> tuple[str, int, str, OctKey]:
        """The key id a valid token was issued to, its ``exp``, and the kid and key that
        signed it; or InvalidToken."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as error:
            raise InvalidToken("the bearer token is not a JWT") from error
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"tokens are signed with {ALGORITHM}, not {header.get('alg')!r}")
        kid = str(header.get("kid"))
        key = self._signing_keys().get(kid)
        if key is None:
            raise InvalidToken("the token's signing key is unknown or retired")
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
            JWTClaimsRegistry(
                iss={"essential": True, "value": ISSUER},
                aud={"essential": True, "value": AUDIENCE},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except JoseError as error:
            reason = error.description or error.error.replace("_", " ")
            raise InvalidToken(f"the bearer token is not valid: {reason}") from error
        return str(decoded.claims["sub"]), int(decoded.claims["exp"]), kid, key
