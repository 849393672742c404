"""Quotas as the API applies them: the refusal when one is spent, and the rows a request may
still answer under its key's monthly row quota (see ``bawaba.keys.quotas``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from bawaba.keys.plans import Plan
from bawaba.keys.quotas import QuotaCounter, Spent
from bawaba.keys.usage import next_month
from bawaba.serving.problems import RateLimited

ALLOWANCE = "row_allowance"
"""Where the gatekeeper leaves a keyed request's ``RowAllowance`` in the request state."""


def quota_spent(plan: Plan, spent: Spent, now: datetime) -> RateLimited:
    resets = next_month(now)
    retry = int((resets - now).total_seconds()) + 1
    return RateLimited(
        f"the monthly {spent.what} quota of the {plan.name!r} plan is spent "
        f"({spent.used:,} of {spent.quota:,})",
        hint=f"it resets on {resets:%Y-%m-%d} 00:00 UTC; /api/v1/me/usage shows your "
        "usage; a larger plan has a larger quota",
        slug="quota-spent",
        headers={"Retry-After": str(retry)},
    )


@dataclass
class RowAllowance:
    """The rows one request has been granted of its key's row quota; the gatekeeper gives
    back, when the request ends, what it did not answer."""

    quotas: QuotaCounter
    key_id: str
    month: str
    plan: Plan
    quota: int
    now: datetime
    granted: int = 0

    def take(self, wanted: int, *, whole: bool) -> int:
        got = self.quotas.take_rows(self.key_id, self.month, self.quota, wanted, whole=whole)
        if got == 0 and wanted > 0:
            used = self.quotas.used(self.key_id, self.month)[1]
            error = quota_spent(self.plan, Spent("rows", self.quota, used), self.now)
            if whole and used < self.quota:
                error = RateLimited(
                    f"this answer holds {wanted:,} rows and {self.quota - used:,} remain of "
                    f"the {self.plan.name!r} plan's monthly row quota",
                    hint=f"filter it to fewer rows; {error.hint}",
                    slug="quota-spent",
                    headers=error.headers,
                )
            raise error
        self.granted += got
        return got


def rows_allowed(request: Request, wanted: int, *, whole: bool = False) -> int:
    """How many of ``wanted`` rows this request may answer: all of them without a row quota,
    else at most what its key has left (all or nothing if ``whole``), charged now; a 429
    when none remain."""
    allowance: RowAllowance | None = request.scope.get("state", {}).get(ALLOWANCE)
    return wanted if allowance is None else allowance.take(wanted, whole=whole)
