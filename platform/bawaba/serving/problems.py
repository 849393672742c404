"""The API's one error shape: ``{"error": {"code", "message", "hint"}}`` with its status.

Every failure a caller can meet is a ``BawabaError`` (its slug is the code) or one of the
framework's own exceptions, and every one of them leaves through ``error_response``: a new
error path cannot invent another shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from bawaba.errors import BawabaError

JSON = "application/json"


class ApiError(BawabaError):
    """A failure answered with ``status``; subclasses name the common ones."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        slug: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, slug=slug)
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class BadParameter(ApiError):
    slug = "bad-parameter"
    status = 400


class NotFound(ApiError):
    slug = "not-found"
    status = 404


class Unauthorised(ApiError):
    slug = "unauthorized"
    status = 401


class Forbidden(ApiError):
    slug = "forbidden"
    status = 403


class QueryTimeout(ApiError):
    slug = "query-timeout"
    status = 503


class RateLimited(ApiError):
    slug = "rate-limited"
    status = 429


class ProblemDetail(BaseModel):
    code: str = Field(description="A stable slug, e.g. `bad-parameter`, `not-found`.")
    message: str = Field(description="What was wrong.")
    hint: str = Field(description="What is valid, or what to do next.")


class Problem(BaseModel):
    """Every error of the API (its status says which kind)."""

    error: ProblemDetail


WHY = {
    400: "A parameter or the request is not valid; the message names it, the hint says what "
    "is valid.",
    401: "Credentials that are not valid (malformed, unknown, expired or revoked), or none "
    "where a key is needed.",
    403: "The key's plan does not include what was asked; the hint names the plans that do.",
    404: "No such dataset, version or path.",
    405: "The path does not answer this method.",
    413: "The request body is too large.",
    416: "The Range asked for is not within the file.",
    429: "A rate limit or a monthly quota is reached; `Retry-After` says when to try again.",
    500: "The server failed to answer; the detail stays in its log.",
    503: "The server cannot answer now: a query ran past its deadline (narrow it down), or "
    "the counters of rate limits and quotas do not answer (retry after `Retry-After`).",
}


def problems(*statuses: int, **why: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``statuses``, each in the one error shape; ``why`` replaces
    a status's description (keyword ``s404=...``)."""
    return {
        status: {
            "model": Problem,
            "description": why.get(f"s{status}", WHY[status]),
        }
        for status in statuses
    }


GATE = problems(401, 429, 500, 503)
"""What the gatekeeper can answer on any path it guards: credentials that are not valid,
a rate limit or quota reached, counters that do not answer; and what any path can fail
with."""


def error_body(code: str, message: str, hint: str = "") -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "hint": hint}})


def error_response(error: BawabaError, status: int | None = None) -> Response:
    headers = dict(getattr(error, "headers", {}))
    status = status or int(getattr(error, "status", 400))
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="bawaba"')
    return Response(
        error_body(error.slug, error.message, error.hint),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


_HTTP_CODES = {
    404: ("not-found", "no such path", "the API lives under /api/v1; see /docs"),
    405: ("method-not-allowed", "this path does not answer that method", "see /docs"),
}


async def _on_bawaba_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, BawabaError)
    return error_response(error)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code, message, hint = _HTTP_CODES.get(
        error.status_code, ("http-error", str(error.detail), "see /docs")
    )
    return error_response(
        ApiError(message, hint=hint, slug=code, headers=error.headers),
        status=error.status_code,
    )


def invalid_parameters(errors: Iterable[Mapping[str, Any]]) -> BadParameter:
    """One 400 naming every parameter pydantic refused, and why (FastAPI's validation
    errors, and those of ``bawaba.serving.parameters``)."""
    problems = []
    for item in errors:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "query")
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return BadParameter(
        "; ".join(problems) or "invalid request", hint="see /docs for the parameters"
    )


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return error_response(invalid_parameters(error.errors()))


async def _on_unexpected(request: Request, error: Exception) -> Response:
    # The detail stays in the server log: it may name files or queries.
    return error_response(
        ApiError(
            "the server failed to answer",
            hint="try again; if it persists, report it with the request's URL",
            slug="internal",
        ),
        status=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BawabaError, _on_bawaba_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
