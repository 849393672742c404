"""``POST /oauth/token``: the OAuth2 client-credentials grant, served with Authlib.

The client id is the key's id and the client secret is the key; Authlib's authorization
server checks the grant and the client's credentials (HTTP Basic or form fields) and this
module supplies the key store, a JWT as the access token, and the API's error shape.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import orjson
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response

from bawaba.api.models import AccessToken, TokenRequest
from bawaba.core.key_store import ApiKey, KeyNotFound, KeyStore
from bawaba.keys.plans import Plans
from bawaba.keys.tokens import TokenIssuer
from bawaba.serving.problems import JSON, ApiError, BadParameter, error_response, problems

router = APIRouter(tags=["authentication"])
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
HINT = (
    "POST grant_type=client_credentials with your key's id as client_id and the key as "
    "client_secret (HTTP Basic or form fields)"
)


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, key: ApiKey, store: KeyStore) -> None:
        self.key = key
        self.store = store

    def get_client_id(self) -> str:
        return self.key.id

    def check_client_secret(self, client_secret: str) -> bool:
        return self.store.verify(self.key.id, client_secret) is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        return ""


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, url: str, headers: Headers, form: dict[str, str]) -> None:
        super().__init__("POST", url, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, store: KeyStore, tokens: TokenIssuer, plans: Plans) -> None:
        super().__init__()
        self.store = store
        self.tokens = tokens
        self.plans = plans
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._token)

    def query_client(self, client_id: str) -> _Client | None:
        try:
            key = self.store.get(client_id)
        except KeyNotFound:
            return None
        if not key.usable(datetime.now(UTC)) or key.plan not in self.plans.plans:
            return None
        return _Client(key, self.store)

    def _token(
        self,
        grant_type: str,
        client: _Client,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": self.tokens.issue(client.key.id, client.key.plan),
            "expires_in": self.tokens.lifetime_s,
        }

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to save: the token is a signed JWT, checked without a lookup."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """No listeners."""

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return Response(
            orjson.dumps(body), status_code=status, media_type=JSON, headers=dict(headers)
        )

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        status = 401 if error.error == "invalid_client" else 400
        return error_response(
            ApiError(
                error.description or error.error.replace("_", " "),
                hint=HINT,
                slug=error.error.replace("_", "-"),
                status=status,
            )
        )


@router.post(
    "/oauth/token",
    summary="Exchange a key for a bearer token (OAuth2 client credentials)",
    description="Form-encoded `grant_type=client_credentials`, with the key's id as "
    "`client_id` and the key as `client_secret`, sent as HTTP Basic credentials or as form "
    "fields. Answers `{access_token, token_type: Bearer, expires_in}`: a signed JWT to send "
    "as `Authorization: Bearer …` until it expires.",
    response_model=AccessToken,
    responses=problems(
        400,
        401,
        429,
        500,
        s400="Not a client-credentials grant, or a body that is not a form "
        "(`unsupported-grant-type`, `invalid-request`).",
        s401="The client id or secret is not valid (`invalid-client`).",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": TokenRequest.model_json_schema()}
            },
        }
    },
)
async def token(request: Request) -> Response:
    server: TokenServer = request.app.state.token_server
    _check_basic_credentials(request.headers.get("authorization", ""))
    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    # Authlib looks headers up by their canonical names: keep them case-insensitive.
    adapted = _Request(str(request.url), request.headers, form)
    response: Response = await run_in_threadpool(server.create_token_response, adapted)
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_basic_credentials(header: str) -> None:
    """Refuse Basic credentials that are not base64 of UTF-8 text (Authlib would fail on
    them); whether they name a key is Authlib's to check."""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadParameter(
            "Authorization: the Basic credentials are not base64 of UTF-8 text",
            hint="send base64(client_id:client_secret), both as UTF-8; " + HINT,
            slug="invalid-request",
        ) from None
