"""The plans shown on ``/plans``: what each gives, in both languages.

The premium tier (keys, quotas, enforcement) defines its plans in ``api_keys/plans.yaml``;
until that lands, this module holds the same three plans as data, and ``load_plans`` is the
one place to point at the file afterwards. The page only describes plans: it grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bawaba.catalog.model import Catalog, Text

Access = Literal["none", "some", "all"]
"""none: open datasets only; some: the premium datasets listed; all: every premium dataset."""


@dataclass(frozen=True)
class Plan:
    id: str
    title: Text
    price: Text
    summary: Text
    rate_limit: str
    """In slowapi notation, as the plan file writes it (e.g. ``600/minute``)."""
    monthly_requests: int | None
    """None: no monthly cap."""
    monthly_rows: int | None
    max_export_rows: int | None
    access: Access
    premium_datasets: tuple[str, ...] = ()
    """For ``access: some``: the premium dataset ids."""

    def datasets(self, catalog: Catalog) -> list[str]:
        """The premium dataset ids this plan opens, in catalog order."""
        premium = [d.id for d in catalog.datasets if d.tier == "premium"]
        if self.access == "all":
            return premium
        if self.access == "none":
            return []
        return [d for d in premium if d in self.premium_datasets]


PLANS: tuple[Plan, ...] = (
    Plan(
        id="developer",
        title=Text(en="Developer", ar="المطوّر"),
        price=Text(en="Free", ar="مجاناً"),
        summary=Text(
            en="A free key for app builders: higher limits on every open dataset.",
            ar="مفتاح مجاني لمطوري التطبيقات: حدود أعلى على جميع مجموعات البيانات المفتوحة.",
        ),
        rate_limit="600/minute",
        monthly_requests=100_000,
        monthly_rows=10_000_000,
        max_export_rows=1_000_000,
        access="none",
    ),
    Plan(
        id="business",
        title=Text(en="Business", ar="الأعمال"),
        price=Text(en="Monthly subscription", ar="اشتراك شهري"),
        summary=Text(
            en="Premium analytics for decisions: payment mix, amount bands, banks, payer "
            "types, service performance and the hourly profile.",
            ar="تحليلات مميزة لاتخاذ القرار: مزيج وسائل الدفع وفئات المبالغ والبنوك وأنواع "
            "الدافعين وأداء الخدمات والنمط بالساعة.",
        ),
        rate_limit="1200/minute",
        monthly_requests=1_000_000,
        monthly_rows=100_000_000,
        max_export_rows=5_000_000,
        access="some",
        premium_datasets=(
            "epay-direct-debit-banks",
            "epay-hourly-profile",
            "epay-amount-bands",
            "payer-mix",
            "service-performance",
        ),
    ),
    Plan(
        id="enterprise",
        title=Text(en="Enterprise", ar="المؤسسات"),
        price=Text(en="Annual agreement", ar="اتفاقية سنوية"),
        summary=Text(
            en="Everything, down to the day and the e-service, with the highest limits.",
            ar="كل البيانات، حتى مستوى اليوم والخدمة الإلكترونية، بأعلى الحدود.",
        ),
        rate_limit="6000/minute",
        monthly_requests=None,
        monthly_rows=None,
        max_export_rows=None,
        access="all",
    ),
)


def load_plans() -> tuple[Plan, ...]:
    """The plans to describe; the one seam to read ``api_keys/plans.yaml`` through."""
    return PLANS
