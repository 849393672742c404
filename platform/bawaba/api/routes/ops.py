"""Operations: liveness and Prometheus metrics (both exempt from rate limits)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from bawaba.api.models import Health
from bawaba.api.routes.catalog import json_response
from bawaba.serving.deps import AppServices
from bawaba.serving.problems import problems

# Exempt from the gatekeeper: only a failure of the server itself.
router = APIRouter(tags=["operations"], responses=problems(500))


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and the current release",
    description="200 while the server answers; names the current release (null before the "
    "first publish) and how many datasets it holds.",
)
def healthz(state: AppServices) -> Response:
    release = state.library.release()
    return json_response(
        {
            "status": "ok",
            "release": release.release if release else None,
            "datasets": len(release.datasets) if release else 0,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests by route and status, latency histograms, rate-limit refusals, "
    "DuckDB query time and answer-cache hits, in the Prometheus text format.",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(state: AppServices) -> Response:
    return Response(
        state.metrics.exposition(),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
