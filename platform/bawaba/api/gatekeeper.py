"""The gate every request passes before routing: who is calling, at what rate, within what
quota; and, once answered, what it used.

1. Credentials: ``X-API-Key``, or ``Authorization: Bearer`` with a token from
   ``/oauth/token``. None means anonymous. Credentials that are malformed, unknown,
   wrongly signed, expired or revoked are refused with a 401, whatever the path: a caller
   who sent a key wants to know it does not work.
2. Rate limits: per key from its plan, or per client address for anonymous callers.
3. Quotas (keyed callers): a request is reserved against the monthly request and row
   quotas before it runs, and its rows and bytes are metered when it ends.

The principal is left on ``request.state`` for the routes' access checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItem
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bawaba.api.limits import Caller, RateLimits, Verdict, parse_limits
from bawaba.api.quota import ALLOWANCE, RowAllowance, quota_spent
from bawaba.core.key_store import KEY_SHAPE, ApiKey, KeyNotFound, KeyStore, month_of
from bawaba.core.redis_client import CountersUnavailable
from bawaba.keys.plans import Plans
from bawaba.keys.quotas import QuotaCounter
from bawaba.keys.tokens import InvalidToken, TokenIssuer
from bawaba.keys.usage import Meter
from bawaba.serving.access import Principal
from bawaba.serving.problems import ApiError, RateLimited, Unauthorised, error_response

EXEMPT = frozenset({"/healthz", "/metrics"})
# The portal's stylesheet, script and fonts cost nothing to serve and come with every page.
EXEMPT_PREFIXES = ("/static/",)
# Where credentials are exchanged, not used: its client authentication is the token
# server's to check, and its callers are limited by address like anonymous ones.
CREDENTIAL_EXCHANGE = "/oauth/token"
# A caller whose quota is spent must still be able to see why.
UNMETERED = frozenset({"/api/v1/me/usage"})
# Credentials remembered as valid; past this they are all checked in full again.
REMEMBERED = 10_000
KEY_HINT = (
    "send a current key as X-API-Key, or a token from POST /oauth/token as Authorization: "
    "Bearer; `bawaba keys list` shows keys and their state"
)


@dataclass(frozen=True, slots=True)
class Recognised:
    """A credential that passed, with what its requests need: who, and counted how."""

    principal: Principal
    caller: Caller
    until: float
    """Until when its key is usable, in epoch seconds: when it expires, infinity if it does
    not, minus infinity if it is revoked (refused with the reason on every request)."""


class Authenticator:
    """Who sent a request, from its credentials.

    A client sends the same credential on every request, and checking it in full (the key's
    shape, its keyed hash or the token's claims, the key's state and plan) cost more than the
    rest of a keyed request's extra work (bench/auth.py). So a credential that passed is
    remembered with its principal, for as long as the key store is unchanged: any commit to
    it, by this process or another (``bawaba keys revoke``), forgets them all, so a revoked,
    rotated or re-planned key is checked in full, and refused, on its very next request.
    Tokens are still checked on every use for their expiry and signing key (TokenIssuer).
    Only the event loop calls this, so the remembered credentials need no lock.
    """

    def __init__(self, store: KeyStore, tokens: TokenIssuer, plans: Plans) -> None:
        self.store = store
        self.tokens = tokens
        self.plans = plans
        self.plan_limits = _plan_limits(plans)
        self._version: object = None
        self._by_key: dict[str, Recognised] = {}
        """Key texts that passed -> what they were recognised as."""
        self._by_id: dict[str, Recognised] = {}
        """Key ids whose tokens passed -> the same."""

    def __call__(
        self, headers: Headers, now: datetime, before_check: Callable[[], None] = lambda: None
    ) -> Recognised | None:
        """``before_check`` runs before any credential not remembered is checked."""
        presented = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if presented is None and authorization is None:
            return None
        version = self.store.version()
        if version != self._version or len(self._by_key) + len(self._by_id) >= REMEMBERED:
            self._by_key.clear()
            self._by_id.clear()
            self._version = version
        if presented is not None:
            known = self._by_key.get(presented)
            if known is None:
                before_check()
                known = self._by_key[presented] = self._recognise(self._key(presented), "api-key")
        else:
            assert authorization is not None
            before_check()
            key_id = self._token(authorization)
            known = self._by_id.get(key_id)
            if known is None:
                known = self._by_id[key_id] = self._recognise(self._token_key(key_id), "bearer")
        if now.timestamp() >= known.until:
            raise Unauthorised(
                known.principal.key.why_unusable(now), hint=KEY_HINT, slug="key-not-usable"
            )
        return known

    def _key(self, presented: str) -> ApiKey:
        match = KEY_SHAPE.fullmatch(presented.strip())
        key = self.store.verify(match[1], match[0]) if match else None
        if key is None:
            raise Unauthorised("the API key is not valid", hint=KEY_HINT, slug="invalid-key")
        return key

    def _token(self, authorization: str) -> str:
        """The key id of a valid bearer token."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised(
                "the Authorization header is not a Bearer token",
                hint=KEY_HINT,
                slug="invalid-token",
            )
        try:
            return self.tokens.verify(token.strip())
        except InvalidToken as error:
            raise Unauthorised(str(error), hint=KEY_HINT, slug="invalid-token") from None

    def _token_key(self, key_id: str) -> ApiKey:
        try:
            return self.store.get(key_id)
        except KeyNotFound:
            raise Unauthorised(
                "the token names no key", hint=KEY_HINT, slug="invalid-token"
            ) from None

    def _recognise(self, key: ApiKey, via: str) -> Recognised:
        plan = self.plans.plans.get(key.plan)
        if plan is None:
            raise Unauthorised(
                f"key {key.prefix} is on plan {key.plan!r}, which is no longer offered",
                hint=f"an administrator moves it to one of: {', '.join(self.plans.plans)}",
                slug="key-not-usable",
            )
        return Recognised(
            principal=Principal(key=key, plan=plan, via=via),
            caller=Caller(f"key:{key.id}", plan.name, self.plan_limits[plan.name]),
            until=key.usable_until(),
        )


class Gatekeeper:
    def __init__(
        self,
        app: ASGIApp,
        authenticate: Authenticator,
        limits: RateLimits,
        anonymous_limits: list[RateLimitItem],
        failed_auth_limits: list[RateLimitItem],
        meter: Meter,
        quotas: QuotaCounter,
        on_refusal: Callable[[Caller], None],
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limits = limits
        self.anonymous_limits = anonymous_limits
        self.failed_auth_limits = failed_auth_limits
        self.meter = meter
        self.quotas = quotas
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT
            or scope["path"].startswith(EXEMPT_PREFIXES)
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        now = datetime.now(UTC)
        address = _address(scope)
        exchange = scope["path"] == CREDENTIAL_EXCHANGE
        allowance: RowAllowance | None = None
        try:
            if exchange:
                self._not_locked_out(address)
                known = None
            else:
                try:
                    known = self.authenticate(
                        Headers(scope=scope), now, lambda: self._not_locked_out(address)
                    )
                except Unauthorised:
                    # Counted and judged in one step: on two workers the check before it
                    # can pass for two failures at once, and both would be told "not valid".
                    lockout = self._failed(address)
                    if lockout is not None:
                        raise lockout from None
                    raise
            principal = known.principal if known else None
            caller = known.caller if known else self._anonymous(address)
            verdict = self.limits.check(caller)
            if not verdict.allowed:
                self.on_refusal(caller)
                raise RateLimited(
                    f"rate limit reached: {verdict.limit.amount} requests per "
                    f"{verdict.limit.get_expiry()} s for this {caller.policy} caller",
                    hint=f"retry in {verdict.reset_in} s"
                    + ("" if principal else "; a free developer key raises the limits"),
                    headers={"Retry-After": str(verdict.reset_in), **verdict.headers()},
                )
            metered = principal is not None and scope["path"] not in UNMETERED
            month = ""
            if metered:
                assert principal is not None
                month = month_of(now)
                allowance = self._admit(principal, month, now)
        except (ApiError, CountersUnavailable) as refusal:
            await error_response(refusal)(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal
        if allowance is not None:
            state[ALLOWANCE] = allowance
        extra = verdict.headers()
        sent = 0
        replaced = False

        async def send_with_headers(message: Message) -> None:
            nonlocal sent, replaced
            if replaced:
                return  # the rest of the answer the lockout below replaced
            if message["type"] == "http.response.start":
                if exchange and message["status"] == 401:
                    # Counted and judged before the answer leaves, as for a key or token:
                    # past the limit the caller is told 429, never "not valid".
                    refusal: ApiError | CountersUnavailable | None
                    try:
                        refusal = self._failed(address)
                    except CountersUnavailable as unavailable:
                        refusal = unavailable
                    if refusal is not None:
                        replaced = True
                        await error_response(refusal)(scope, receive, send)
                        return
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        rows = 0
        try:
            await self.app(scope, receive, send_with_headers)
            rows = int(state.get("rows", 0))
        finally:
            if metered:
                assert principal is not None
                dataset = scope.get("path_params", {}).get("dataset_id") or scope["path"]
                self.meter.done(principal.key.id, month, str(dataset), rows, sent)
                if allowance is not None:
                    # Gives back rows granted and not answered; charges the rows of a path
                    # that answered without asking first.
                    self.quotas.add_rows(principal.key.id, month, rows - allowance.granted)

    def _anonymous(self, address: str) -> Caller:
        return Caller(f"addr:{address}", "anonymous", self.anonymous_limits)

    def _failures(self, address: str) -> Caller:
        return Caller(f"auth-failures:{address}", "failed-authentication", self.failed_auth_limits)

    def _not_locked_out(self, address: str) -> None:
        verdict = self.limits.peek(self._failures(address))
        if not verdict.allowed:
            raise self._locked_out(address, verdict)

    def _locked_out(self, address: str, verdict: Verdict) -> RateLimited:
        self.on_refusal(self._failures(address))
        return RateLimited(
            f"too many failed authentications from this address: {verdict.limit.amount} "
            f"per {verdict.limit.get_expiry()} s",
            hint=f"retry in {verdict.reset_in} s with a current key or token; "
            "`bawaba keys list` shows keys and their state",
            headers={"Retry-After": str(verdict.reset_in)},
        )

    def _failed(self, address: str) -> RateLimited | None:
        """Counts a failed authentication from ``address``; the lockout to answer instead
        of "not valid" when this one is past the limit."""
        verdict = self.limits.check(self._failures(address))
        return None if verdict.allowed else self._locked_out(address, verdict)

    def _admit(self, principal: Principal, month: str, now: datetime) -> RowAllowance | None:
        plan = principal.plan
        if plan.monthly_requests is None and plan.monthly_rows is None:
            return None
        spent = self.quotas.admit(principal.key.id, month, plan.monthly_requests, plan.monthly_rows)
        if spent is not None:
            raise quota_spent(plan, spent, now)
        if plan.monthly_rows is None:
            return None
        return RowAllowance(self.quotas, principal.key.id, month, plan, plan.monthly_rows, now)


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _plan_limits(plans: Plans) -> dict[str, list[RateLimitItem]]:
    return {
        name: parse_limits(plan.rate_limits, f"plans.{name}.rate_limits")
        for name, plan in plans.plans.items()
    }
