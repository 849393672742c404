"""The premium analytics paths, ``/api/v1/analytics/…``: thin handlers over
``bawaba.analytics``.

Two router-wide dependencies run before any parameter is read: the caller's plan must
include the analytics (401 without a key, 403 on a plan without them), and every query
parameter must be one the path declares. Each indicator then checks the caller's plan
against every dataset it reads (403 naming the plans that have it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from bawaba.analytics import adoption, mix, seasonality, series, top_services
from bawaba.analytics.answer import answer
from bawaba.analytics.members import check_parameters, parse_members, parse_years
from bawaba.analytics.models import (
    AdoptionAnswer,
    MixAnswer,
    SeasonalityAnswer,
    TimeseriesAnswer,
    TopServicesAnswer,
)
from bawaba.analytics.periods import Grain, parse_period
from bawaba.analytics.tables import Measure
from bawaba.api.security import KEYED
from bawaba.serving import documents
from bawaba.serving.access import require_analytics
from bawaba.serving.problems import GATE, problems
from bawaba.serving.query_string import query_items


# Coroutines, for the reason bawaba.serving.deps gives: no thread hop per request.
async def analytics_caller(request: Request) -> None:
    """Refuse a caller whose plan lacks the analytics (``access.require_analytics``)."""
    require_analytics(request)


async def only_declared(request: Request) -> None:
    """Refuse parameters the path does not declare (a misspelt filter would otherwise be
    dropped silently and the answer cover more than was asked)."""
    route = request.scope.get("route")
    assert isinstance(route, APIRoute)
    declared = [param.alias for param in route.dependant.query_params]
    check_parameters(query_items(request), declared)


router = APIRouter(
    prefix=f"{documents.API}/analytics",
    tags=["analytics"],
    dependencies=[Depends(analytics_caller), Depends(only_declared)],
    responses={
        **GATE,
        **problems(
            400,
            401,
            403,
            404,
            503,
            s401="No key, or a key that is not valid.",
            s403="The key's plan lacks the analytics, or a dataset the answer is computed "
            "from; the hint names the plans that have it.",
            s404="A dataset the answer is computed from is not published yet.",
        ),
        304: {"description": "Not modified: the `ETag` sent in `If-None-Match` still holds."},
    },
)

_MEMBERS = " One or more whole members, comma-separated; no exclusions or ranges."

MeasureParam = Annotated[
    Measure,
    Query(
        description="What to add up: `transactions` (successful payments) or `amount_aed` "
        "(their amount in AED).",
        examples=["transactions"],
    ),
]
Department = Annotated[
    str | None,
    Query(
        description="Only these departments, by code (see the departments code list)." + _MEMBERS,
        examples=["RTA", "RTA,DEWA"],
    ),
]
Channel = Annotated[
    str | None,
    Query(
        description="Only these electronic channels: internet, mobile_app, sms, kiosk, ivr, "
        "call_centre." + _MEMBERS,
        examples=["internet"],
    ),
]
Service = Annotated[
    str | None,
    Query(
        description="Only these e-services, by gateway code (e.g. DM-012, or DM-OTHER for a "
        "department's folded rare services)." + _MEMBERS,
        examples=["DP-001"],
    ),
]
Year = Annotated[
    str | None,
    Query(description="Only these years." + _MEMBERS, examples=["2013", "2012,2013"]),
]
GrainParam = Annotated[
    Grain,
    Query(description="The period: `month`, `quarter` or `year`.", examples=["quarter"]),
]


def _filters(**raw: str | None) -> dict[str, tuple[str, ...]]:
    members = {name: parse_members(name, value) for name, value in raw.items()}
    return {name: values for name, values in members.items() if values}


@router.get(
    "/timeseries",
    response_model=TimeseriesAnswer,
    openapi_extra=KEYED,
    summary="A measure by month, with month-on-month and year-on-year growth",
    description="Monthly sums of `transactions` or `amount_aed`, overall or broken down `by` "
    "department, channel and/or service, with growth in percent on the month before "
    "(`mom_growth_pct`) and on the same month a year earlier (`yoy_growth_pct`). Computed "
    "from the coarsest published table holding what is asked: epay-monthly (department, "
    "channel), service-performance (service; transactions only), epay-monthly-service "
    "(service with amount; enterprise plan); no table holds a service by channel. Each "
    "point says how many cells it sums and how many of them were suppressed; suppressed "
    "cells are never estimated, and growth is empty unless both months are free of them.",
)
async def read_timeseries(
    request: Request,
    measure: MeasureParam = "transactions",
    by: Annotated[
        str | None,
        Query(
            description="Dimensions to break down by, comma-separated: department, channel, "
            "service (none: one series for everything selected).",
            examples=["department", "department,channel"],
        ),
    ] = None,
    department: Department = None,
    channel: Channel = None,
    service: Service = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=10_000,
            description="Most points answered; `truncated` says if there were more.",
            examples=[1000],
        ),
    ] = 10_000,
) -> Response:
    question = series.Series(
        measure=measure,
        by=series.parse_by(by, series.DIMENSIONS),
        filters=_filters(department=department, channel=channel, service=service),
        limit=limit,
    )
    return await answer(request, series.plan(question))


@router.get(
    "/mix",
    response_model=MixAnswer,
    openapi_extra=KEYED,
    summary="Channel or payment-method mix per period, and its shift",
    description="Each member's sum and share of the period (`share_pct`), with the change of "
    "share in percentage points on the period before (`shift_pts`) and on the same period a "
    "year earlier (`yoy_shift_pts`). Channels come from epay-monthly, payment methods from "
    "epay-payment-methods. Shares are of the published total; a shift is given only when "
    "both periods are free of suppressed cells.",
)
async def read_mix(
    request: Request,
    dimension: Annotated[
        mix.Dimension,
        Query(
            description="`channel` (internet, mobile app, …) or `payment_method` (credit card, "
            "direct debit, eDirham).",
            examples=["channel"],
        ),
    ] = "channel",
    measure: MeasureParam = "transactions",
    grain: GrainParam = "month",
    department: Department = None,
) -> Response:
    question = mix.Mix(
        dimension=dimension, measure=measure, grain=grain, filters=_filters(department=department)
    )
    return await answer(request, mix.plan(question))


@router.get(
    "/seasonality",
    response_model=SeasonalityAnswer,
    openapi_extra=KEYED,
    summary="Seasonality profile by month of the year or hour of the week",
    description="`month_of_year` (1–12, from epay-monthly) or `hour_of_week` (0–167, 0 = "
    "Sunday 00:00 Dubai time, from epay-hourly-profile). Each point gives its sum, the sum "
    "per year covered (`per_year`), its share of the whole and a seasonal `index` (100 = an "
    "average month or hour), with its suppressed cells counted. The hour-of-week profile "
    "is by department only: a `channel` filter there is refused.",
)
async def read_seasonality(
    request: Request,
    profile: Annotated[
        seasonality.Profile,
        Query(description="`month_of_year` or `hour_of_week`.", examples=["hour_of_week"]),
    ] = "month_of_year",
    measure: MeasureParam = "transactions",
    department: Department = None,
    channel: Channel = None,
    year: Year = None,
) -> Response:
    filters: dict[str, tuple[object, ...]] = dict(_filters(department=department, channel=channel))
    years = parse_years(year)
    if years:
        filters["year"] = years
    question = seasonality.Seasonality(profile=profile, measure=measure, filters=filters)
    return await answer(request, seasonality.plan(question))


@router.get(
    "/top-services",
    response_model=TopServicesAnswer,
    openapi_extra=KEYED,
    summary="E-services ranked by growth on the same period a year earlier",
    description="The services with the highest growth in percent from the same period a year "
    "earlier to the period `at` (the latest with data unless given). From "
    "service-performance for transactions; `amount_aed` needs epay-monthly-service "
    "(enterprise plan). A service is ranked only when neither period has "
    "a suppressed cell and its year-ago value is at least `min_previous`; `counts` says how "
    "many were left out and why.",
)
async def read_top_services(
    request: Request,
    measure: MeasureParam = "transactions",
    grain: GrainParam = "year",
    at: Annotated[
        str | None,
        Query(
            description="The period to rank, shaped by `grain`: 2013, 2013-Q2 or 2013-06.",
            examples=["2013"],
        ),
    ] = None,
    min_previous: Annotated[
        int,
        Query(
            ge=1,
            description="Smallest year-ago value a service needs to be ranked.",
            examples=[100],
        ),
    ] = 1,
    limit: Annotated[
        int, Query(ge=1, le=100, description="How many services to return.", examples=[10])
    ] = 10,
    department: Department = None,
) -> Response:
    question = top_services.TopServices(
        measure=measure,
        grain=grain,
        at=parse_period(grain, at, "at"),
        min_previous=min_previous,
        limit=limit,
        filters=_filters(department=department),
    )
    return await answer(request, top_services.plan(question))


@router.get(
    "/adoption",
    response_model=AdoptionAnswer,
    openapi_extra=KEYED,
    summary="E-channel adoption per department and quarter, with its trend",
    description="From eservice-adoption: electronic and counter payments per quarter, "
    "adoption in percent (recomputed from the counts, so departments add up), its change in "
    "points on the quarter before and a year earlier, and the trend in points per year (the "
    "least-squares slope over the quarters free of suppressed cells).",
)
async def read_adoption(
    request: Request,
    by: Annotated[
        Literal["department", "none"],
        Query(
            description="`department`: one trend per department; `none`: one for the "
            "departments selected together.",
            examples=["department"],
        ),
    ] = "department",
    department: Department = None,
) -> Response:
    question = adoption.Adoption(
        by_department=by == "department", filters=_filters(department=department)
    )
    return await answer(request, adoption.plan(question))
