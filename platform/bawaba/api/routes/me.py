"""The caller's own key: its plan, this month's usage and what remains of its quotas."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from bawaba.api.models import UsageReport
from bawaba.api.routes.catalog import json_response
from bawaba.api.security import KEYED
from bawaba.keys.store import month_of
from bawaba.keys.usage import next_month
from bawaba.serving import documents
from bawaba.serving.access import require_key
from bawaba.serving.deps import AppServices
from bawaba.serving.problems import GATE

router = APIRouter(prefix=documents.API, tags=["premium"], responses=GATE)


def _remaining(quota: int | None, used: int) -> dict[str, int | None]:
    return {
        "quota": quota,
        "used": used,
        "remaining": None if quota is None else max(0, quota - used),
    }


@router.get(
    "/me/usage",
    response_model=UsageReport,
    openapi_extra=KEYED,
    summary="Your key's plan, usage this month and remaining quota",
    description="Needs a key (X-API-Key or a bearer token). Requests, rows and bytes this "
    "calendar month (UTC), in all and by dataset, with what remains of the plan's monthly "
    "quotas and when they reset. What remains of the quotas is exact as of the request; "
    "the usage by dataset takes in other server processes' requests within a second "
    "(at once when the server counts in Redis).",
)
def usage(request: Request, state: AppServices) -> Response:
    caller = require_key(request, "usage")
    now = datetime.now(UTC)
    total, by_dataset = state.meter.usage(caller.key.id, now)
    requests_used, rows_used = state.quotas.used(caller.key.id, month_of(now))
    plan = caller.plan
    return json_response(
        {
            "key": {
                "id": caller.key.id,
                "prefix": caller.key.prefix,
                "org": caller.key.org,
                "plan": plan.name,
                "expires_at": caller.key.expires_at.isoformat() if caller.key.expires_at else None,
            },
            "month": f"{now:%Y-%m}",
            "resets_at": next_month(now).isoformat(),
            "usage": {
                "requests": total.requests,
                "rows": total.rows,
                "bytes": total.bytes,
                "by_dataset": {
                    name: {"requests": u.requests, "rows": u.rows, "bytes": u.bytes}
                    for name, u in sorted(by_dataset.items())
                },
            },
            "quota": {
                "requests": _remaining(plan.monthly_requests, requests_used),
                "rows": _remaining(plan.monthly_rows, rows_used),
            },
            "limits": {"rate": plan.rate_limits, "max_export_rows": plan.max_export_rows},
        },
        headers={"Cache-Control": "no-store"},
    )
