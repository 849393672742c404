"""Running an indicator: access per dataset, versions, ETag, answer cache, metering.

An indicator is a ``Plan``: the datasets it reads, the question in canonical form, and a
function that computes the answer from the resolved versions. Published versions never
change, so the answer is fully determined by the question and the versions read; that pair
is the ETag, known before any query runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bawaba.serving.access import require_read
from bawaba.serving.caching import fingerprint, not_modified
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.problems import JSON
from bawaba.serving.query import Compiled
from bawaba.serving.state import services

# Answers follow the current versions, which the next publish replaces; they are a
# subscriber's, so shared caches must not keep them.
CACHE_CONTROL = "private, max-age=60"
SUPPRESSION_NOTE = (
    "Suppressed cells (withheld to protect privacy) are left out of every sum and never "
    "estimated; `suppressed_cells` counts them. Growth and share changes are given only "
    "between periods with no suppressed cell."
)


@dataclass(frozen=True)
class Result:
    body: dict[str, Any]
    rows: int
    """Points answered, metered against the plan's row quota."""


@dataclass(frozen=True)
class Plan:
    indicator: str
    datasets: tuple[str, ...]
    """Every dataset the answer is computed from; each is access-checked and listed."""
    question: dict[str, Any]
    """The parameters in canonical form, defaults filled in: echoed, and part of the ETag."""
    compute: Callable[[Engine, Mapping[str, Published]], Result]


def query(engine: Engine, source: Published, compiled: Compiled) -> list[dict[str, Any]]:
    """Rows of ``compiled`` over ``source`` as dicts, within the engine's deadline."""
    names, rows = engine.rows(source.path, compiled, "analytics")
    return [dict(zip(names, row, strict=True)) for row in rows]


def suppression(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The cells summed into ``points`` and how many of them were suppressed."""
    return {
        "cells": sum(int(p["cells"]) for p in points),
        "suppressed_cells": sum(int(p["suppressed_cells"]) for p in points),
        "note": SUPPRESSION_NOTE,
    }


def _etag(plan: Plan, used: list[Published]) -> str:
    question = orjson.dumps(plan.question, option=orjson.OPT_SORT_KEYS).decode()
    versions = [f"{p.dataset.id}@{p.version}" for p in used]
    return f'"a-{fingerprint("analytics", plan.indicator, question, *versions)}"'


async def answer(request: Request, plan: Plan) -> Response:
    """The plan's answer as JSON, from the cache when this question met these versions
    before. The rows answered are left on ``request.state`` for metering."""
    state = services(request)
    # Every dataset is checked before any is read: a plan without one of them gets a 403
    # naming it, never a partial answer.
    for dataset_id in plan.datasets:
        require_read(request, state.library.dataset(dataset_id))
    used = [state.library.resolve(dataset_id) for dataset_id in plan.datasets]
    etag = _etag(plan, used)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    cached = state.answers.get(etag)
    state.metrics.answer_cache.labels("hit" if cached is not None else "miss").inc()
    if cached is None:

        def compute() -> tuple[bytes, int]:
            result = plan.compute(state.engine, {p.dataset.id: p for p in used})
            document = {
                "indicator": plan.indicator,
                "query": plan.question,
                "sources": [{"dataset": p.dataset.id, "version": p.version} for p in used],
                **result.body,
            }
            return orjson.dumps(document), result.rows

        cached = await run_in_threadpool(compute)
        state.answers.put(etag, *cached)
    body, request.state.rows = cached
    return Response(body, media_type=JSON, headers=headers)
