"""What the simulator actually wrote, for tests and for checking the pipelines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class YearTruth(_Frozen):
    """Clean rows of a year (dirty rows excluded)."""

    e_success: int
    """Successful electronic payments (the ePay gateway's transactions)."""
    e_success_value_aed: float
    e_success_value_fils: int
    counter_success: int
    failed: int
    refunds: int

    @staticmethod
    def total(parts: list[YearTruth]) -> YearTruth:
        fils = sum(p.e_success_value_fils for p in parts)
        return YearTruth(
            e_success=sum(p.e_success for p in parts),
            e_success_value_aed=fils / 100,
            e_success_value_fils=fils,
            counter_success=sum(p.counter_success for p in parts),
            failed=sum(p.failed for p in parts),
            refunds=sum(p.refunds for p in parts),
        )


class DepartmentTruth(_Frozen):
    dialect: str
    rows: int
    """Every row written, dirty rows included."""
    dirty: dict[str, int]
    years: dict[str, YearTruth]


class Truth(_Frozen):
    seed: int
    scale: float
    years: tuple[int, ...]
    departments: dict[str, DepartmentTruth]
    totals: dict[str, YearTruth]
    """Per year, over the simulated departments."""
