"""Who may read what. The open tier is free for everyone; premium data needs a key whose
plan covers it.

The gatekeeper (``bawaba.api.gatekeeper``) authenticates the request before routing and
leaves a ``Principal`` (or None) on ``request.state``; every data path then asks
``require_read`` before it touches a file, so no path can serve premium data unchecked: a
path naming its dataset declares ``ReadableDataset`` or calls ``dataset_to_read``
(``bawaba.serving.deps``), which asks before any other parameter is parsed; CKAN's
datastore (the dataset named in its body) and the analytics (the datasets a question reads)
ask once they know which.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from bawaba.catalog.model import Dataset
from bawaba.core.key_store import ApiKey
from bawaba.keys.plans import Plan
from bawaba.serving.problems import Forbidden, Unauthorised

SUBSCRIBE_HINT = (
    "premium data needs a key: subscribe to a plan (see /plans; an administrator runs "
    "`bawaba keys create --org NAME --plan business`) and send it as X-API-Key, or as "
    "Authorization: Bearer with a token from POST /oauth/token"
)


@dataclass(frozen=True)
class Principal:
    """The key a request was authenticated with, and its plan."""

    key: ApiKey
    plan: Plan
    via: str
    """``api-key`` or ``bearer``."""


def principal(request: Request) -> Principal | None:
    found: Principal | None = getattr(request.state, "principal", None)
    return found


def require_key(request: Request, what: str) -> Principal:
    caller = principal(request)
    if caller is None:
        raise Unauthorised(f"{what} needs a key", hint=SUBSCRIBE_HINT)
    return caller


def require_read(request: Request, dataset: Dataset) -> None:
    if dataset.tier == "open":
        return
    caller = require_key(request, f"{dataset.id!r} is a premium dataset: it")
    if not caller.plan.reads(dataset.id):
        plans = request.app.state.services.plans.reading(dataset.id)
        raise Forbidden(
            f"the {caller.plan.name!r} plan does not include {dataset.id!r}",
            hint=f"the plans that include it are: {', '.join(plans)}",
        )


def require_analytics(request: Request) -> Principal:
    caller = require_key(request, "the analytics")
    if not caller.plan.analytics:
        plans = request.app.state.services.plans.with_analytics()
        raise Forbidden(
            f"the {caller.plan.name!r} plan does not include the analytics",
            hint=f"the plans that include them are: {', '.join(plans)}",
        )
    return caller


def require_export(request: Request, dataset: Dataset, rows: int) -> None:
    """Refuse a premium download larger than the caller's plan exports (open data downloads
    have no cap, keyed or not)."""
    caller = principal(request)
    if dataset.tier == "open" or caller is None or caller.plan.max_export_rows is None:
        return
    if rows > caller.plan.max_export_rows:
        plans = request.app.state.services.plans
        larger = [
            name
            for name, plan in plans.plans.items()
            if plan.max_export_rows is None or plan.max_export_rows >= rows
        ]
        raise Forbidden(
            f"this download holds {rows:,} rows; the {caller.plan.name!r} plan exports at "
            f"most {caller.plan.max_export_rows:,}",
            hint=f"filter it to fewer rows, or use a plan that exports it: {', '.join(larger)}",
        )
