"""CKAN's response envelope and its error types, the one error shape of the CKAN paths.

Every answer is ``{"help": URL, "success": bool, "result" | "error": ...}``, as CKAN's own
``api.action`` view writes it. Errors keep CKAN's ``__type`` names and statuses because
clients dispatch on them: ``ckanapi`` turns ``Not Found Error`` into ``NotFound``,
``Authorization Error`` into ``NotAuthorized``, ``Validation Error`` into
``ValidationError``, and raises ``ServerIncompatibleError`` when ``error`` is not an object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from starlette.responses import Response

from bawaba.errors import BawabaError
from bawaba.serving.problems import BadParameter, NotFound, QueryTimeout, Unauthorised

JSON = "application/json;charset=utf-8"


class CkanError(Exception):
    """A failure of an action, answered with CKAN's ``__type`` and status."""

    kind = "Internal Server Error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def error(self) -> dict[str, object]:
        return {"__type": self.kind, "message": self.message}


class BadRequest(CkanError):
    """The request itself is unusable: unknown action, body that is not a JSON object."""

    kind = "Bad Request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(f"Bad request - {message}")


class NotFoundError(CkanError):
    kind = "Not Found Error"
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(f"Not found: {message}")


class AuthorizationError(CkanError):
    kind = "Authorization Error"
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(f"Access denied: {message}")


class SearchQueryError(CkanError):
    """A ``q`` or ``fq`` that cannot be parsed (CKAN: Solr refused the query)."""

    kind = "Search Query Error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(f"Search Query is invalid: {message}")


class ValidationError(CkanError):
    """Parameters of the wrong type or value: CKAN reports them field by field, with no
    ``message`` of its own."""

    kind = "Validation Error"
    status = 409

    def __init__(self, fields: Mapping[str, Sequence[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = {name: list(messages) for name, messages in fields.items()}

    def error(self) -> dict[str, object]:
        return {"__type": self.kind, **self.fields}


def from_platform(error: BawabaError, parameter: str) -> CkanError:
    """The CKAN error for a failure raised by the shared API code (library, query compiler,
    access checks). ``parameter`` names the action parameter the failure is about, for a
    Validation Error's field."""
    detail = f"{error.message} ({error.hint})" if error.hint else error.message
    if isinstance(error, Unauthorised):
        # CKAN has no 401: a caller without the right key is refused with 403.
        return AuthorizationError(detail)
    if isinstance(error, NotFound):
        return NotFoundError(detail)
    if isinstance(error, BadParameter):
        return ValidationError({parameter: [detail]})
    if isinstance(error, QueryTimeout):
        # What CKAN's DataStore says when its statement timeout cancels a search.
        return ValidationError({"query": ["Query took too long", detail]})
    status = int(getattr(error, "status", 500))
    if status == 403:
        return AuthorizationError(detail)
    failure = CkanError(detail)
    failure.status = status if status >= 400 else 500
    return failure


def envelope(help_url: str, result: object) -> Response:
    body = {"help": help_url, "success": True, "result": result}
    return Response(orjson.dumps(body), media_type=JSON)


def error_envelope(help_url: str, error: CkanError) -> Response:
    body = {"help": help_url, "success": False, "error": error.error()}
    return Response(orjson.dumps(body), status_code=error.status, media_type=JSON)
