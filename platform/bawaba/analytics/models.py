"""The indicators' answers as pydantic models: the OpenAPI document's 200 schemas.

``bawaba.analytics.answer`` builds the documents as dicts and encodes them with orjson;
these models describe them, and the schemathesis contract test holds the live answers to
them. Measures are numbers or null (a sum whose every cell is suppressed has no value).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Number = float | None


class Source(BaseModel):
    dataset: str
    version: str


class Suppression(BaseModel):
    cells: int = Field(description="Published cells the answer sums.")
    suppressed_cells: int = Field(description="Of those, withheld to protect privacy.")
    note: str


class IndicatorAnswer(BaseModel):
    indicator: str
    query: dict[str, Any] = Field(description="The question, defaults filled in.")
    sources: list[Source] = Field(description="The dataset versions the answer is from.")
    suppression: Suppression


class Counted(BaseModel):
    cells: int
    suppressed_cells: int


class SeriesPoint(Counted):
    period: str
    value: Number
    mom_growth_pct: Number
    yoy_growth_pct: Number


class Series(BaseModel):
    key: dict[str, str] = Field(description="The breakdown's members ({} for one series).")
    points: list[SeriesPoint]


class TimeseriesAnswer(IndicatorAnswer):
    measure: str
    series: list[Series]
    truncated: bool


class MixMember(Counted):
    member: str
    value: Number
    share_pct: Number
    shift_pts: Number
    yoy_shift_pts: Number


class MixPeriod(Counted):
    period: str
    total: Number
    members: list[MixMember]


class MixAnswer(IndicatorAnswer):
    dimension: str
    measure: str
    grain: str
    periods: list[MixPeriod]


class SeasonalPoint(Counted):
    model_config = ConfigDict(extra="allow")
    """Also the profile's position: ``month`` (1-12), or ``hour_of_week`` with its ``day``
    and ``hour``."""

    value: Number
    per_year: Number
    share_pct: Number
    index: Number
    years: int


class SeasonalityAnswer(IndicatorAnswer):
    profile: str
    measure: str
    points: list[SeasonalPoint]


class RankedService(Counted):
    department: str | None
    service: str
    value: Number
    previous_value: Number
    growth_pct: Number
    rank: int


class RankCounts(BaseModel):
    with_data: int
    ranked: int
    left_out_suppressed: int
    left_out_small_base: int


class TopServicesAnswer(IndicatorAnswer):
    measure: str
    grain: str
    period: str | None
    previous_period: str | None
    services: list[RankedService]
    counts: RankCounts


class AdoptionQuarter(Counted):
    period: str
    electronic: Number
    counter: Number
    adoption_pct: Number
    change_pts: Number
    yoy_change_pts: Number


class DepartmentTrend(BaseModel):
    department: str | None = Field(description="null for the departments taken together.")
    trend_pts_per_year: Number
    quarters: list[AdoptionQuarter]


class AdoptionAnswer(IndicatorAnswer):
    departments: list[DepartmentTrend]
