"""The CKAN paths: every action under ``/api/3/action/`` and ``/api/action/``, GET and POST.

CKAN serves the Action API at both prefixes (``ckanapi`` POSTs to ``/api/action/<name>``);
OpenAPI lists the ``/api/3/`` paths, the others are the same routes. Every answer and every
failure leaves in CKAN's envelope (``envelope.py``), never in the open API's error shape, so
a CKAN client always sees the shape it parses (``gateway.py`` does the same for refusals
made before routing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from bawaba.ecosystem.ckan.actions import ACTIONS, Action
from bawaba.ecosystem.ckan.envelope import (
    BadRequest,
    CkanError,
    envelope,
    error_envelope,
    from_platform,
)
from bawaba.ecosystem.ckan.models import answer_model, ckan_problems
from bawaba.ecosystem.ckan.params import Parameters, parse, request_data
from bawaba.errors import BawabaError
from bawaba.serving.deps import base_url
from bawaba.serving.problems import GATE

log = logging.getLogger(__name__)

PREFIXES = ("/api/3/action", "/api/action")
DOCUMENTED = PREFIXES[0]


def help_url(request: Request, name: str) -> str:
    return f"{base_url(request)}{DOCUMENTED}/help_show?name={name}"


async def answer(request: Request, action: Action) -> Response:
    """Run ``action`` for ``request`` and wrap whatever happens in CKAN's envelope."""
    link = help_url(request, action.name)
    try:
        params = parse(action.parameters, await request_data(request))
        result = await action.run(request, params, request.url.path)
    except CkanError as error:
        return error_envelope(link, error)
    except BawabaError as error:
        return error_envelope(link, from_platform(error, action.subject))
    except Exception:
        log.exception("CKAN action %s failed", action.name)
        return error_envelope(link, CkanError("Internal Server Error"))
    return envelope(link, result)


def _openapi(parameters: type[Parameters], method: str) -> dict[str, Any]:
    schema = parameters.model_json_schema(by_alias=True)
    properties: dict[str, Any] = schema.get("properties", {})
    if method == "POST":
        return {
            "requestBody": {
                "required": False,
                "description": "The parameters as one JSON object; unknown keys are ignored.",
                "content": {"application/json": {"schema": schema}},
            }
        }
    required = set(schema.get("required", []))
    listed = []
    for name, prop in properties.items():
        entry: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
        }
        shape = {k: v for k, v in prop.items() if k not in ("description", "title")}
        if "object" in str(shape.get("type")) or "anyOf" in shape or shape.get("type") == "array":
            # Lists and objects travel in a query string as JSON text.
            entry["content"] = {"application/json": {"schema": shape}}
        else:
            entry["schema"] = shape
        listed.append(entry)
    return {"parameters": listed}


def _endpoint(action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await answer(request, action)

    return endpoint


async def unknown_action(request: Request) -> Response:
    name = request.path_params["name"]
    return error_envelope(
        help_url(request, name),
        BadRequest(f"Action name not known: {name}; the actions are: {', '.join(ACTIONS)}"),
    )


class ApiVersion(BaseModel):
    version: Literal[3]


async def api_version(request: Request) -> Response:
    return Response(b'{"version": 3}', media_type="application/json")


def build_router() -> APIRouter:
    router = APIRouter(tags=["ckan"])
    for prefix in PREFIXES:
        documented = prefix == DOCUMENTED
        for action in ACTIONS.values():
            for method in ("GET", "POST"):
                router.add_api_route(
                    f"{prefix}/{action.name}",
                    _endpoint(action),
                    methods=[method],
                    summary=f"CKAN {action.name}: {action.summary}",
                    description=action.description
                    + f"\n\nAlso at `{PREFIXES[1]}/{action.name}`. Answers in CKAN's envelope "
                    "(`help`, `success`, `result` or `error` with `__type`).",
                    operation_id=f"ckan_{action.name}_{method.lower()}",
                    response_model=answer_model(action.name),
                    responses=ckan_problems(),
                    openapi_extra=_openapi(action.parameters, method),
                    include_in_schema=documented,
                )
        router.add_api_route(
            f"{prefix}/{{name}}",
            unknown_action,
            methods=["GET", "POST"],
            summary="Any other CKAN action",
            description="Bawaba is read-only and implements the actions listed above; any "
            "other name is a 400 Bad Request in CKAN's envelope.",
            include_in_schema=False,
        )
    router.add_api_route(
        "/api/3",
        api_version,
        methods=["GET"],
        summary="CKAN API version",
        description='`{"version": 3}`, as CKAN answers clients that probe for its API.',
        response_model=ApiVersion,
        responses=GATE,
    )
    return router


router = build_router()
