"""Premium analytics end to end: a real server, business keys, and every answer checked
against an independent computation in plain Python over the same published Parquet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from bawaba.analytics import seasonality, series, top_services
from bawaba.analytics.members import valid_members
from bawaba.analytics.tables import EPAY_MONTHLY, SERVICE_PERFORMANCE
from bawaba.api.app import create_app
from bawaba.catalog.load import load_catalog
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference
from conftest import Served, api_settings, serve_release
from releases import write_release

API = "/api/v1/analytics"
PATHS = ("timeseries", "mix", "seasonality", "top-services", "adoption")
TOLERANCE = 0.011  # both sides round to 2 decimals; a tie may round either way

Key = tuple[Any, ...]


# --- the independent computation ---------------------------------------------------------


def rows_of(served: Served, dataset: str, version: str = "v2") -> list[dict[str, Any]]:
    path = served.settings.datasets_dir / dataset / version / "data.parquet"
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def number(value: Any) -> float | int | None:
    return float(value) if isinstance(value, Decimal) else value


def is_published(row: dict[str, Any], *columns: str) -> bool:
    return not row["suppressed"] and all(row[c] is not None for c in columns)


def month_of(row: dict[str, Any]) -> str:
    return str(row["month"]) if "month" in row else row["date"].strftime("%Y-%m")


def period_of(month: str, grain: str) -> str:
    if grain == "month":
        return month
    if grain == "quarter":
        return f"{month[:4]}-Q{(int(month[5:7]) + 2) // 3}"
    return month[:4]


def shifted(period: str, steps: int, grain: str) -> str:
    """The period ``steps`` back."""
    year = int(period[:4])
    if grain == "year":
        return str(year - steps)
    if grain == "quarter":
        index = year * 4 + int(period[6]) - 1 - steps
        return f"{index // 4}-Q{index % 4 + 1}"
    index = year * 12 + int(period[5:7]) - 1 - steps
    return f"{index // 12}-{index % 12 + 1:02d}"


class Point:
    """A group's published sum and its cells, as the analytics promise to count them."""

    def __init__(self) -> None:
        self.value: Any = None
        self.cells = 0
        self.suppressed = 0

    def add(self, row: dict[str, Any], column: str) -> None:
        self.cells += 1
        if is_published(row, column):
            self.value = (self.value or 0) + row[column]
        else:
            self.suppressed += 1

    @property
    def complete(self) -> bool:
        return self.suppressed == 0


def points(
    rows: Iterable[dict[str, Any]], key: Any, column: str, **only: Iterable[Any]
) -> dict[Key, Point]:
    found: dict[Key, Point] = defaultdict(Point)
    for row in rows:
        if all(row[c] in set(values) for c, values in only.items()):
            found[key(row)].add(row, column)
    return dict(found)


def growth(now: Point, before: Point | None) -> float | None:
    if not now.complete or before is None or not before.complete or not before.value:
        return None
    return round(100 * (float(now.value) - float(before.value)) / float(before.value), 2)


def close(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return abs(float(actual) - float(expected)) <= TOLERANCE * max(1, abs(float(expected)) / 100)


# --- the server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def business(served: Served) -> Iterator[httpx.Client]:
    with served.client(headers={"X-API-Key": served.new_key("business")}) as client:
        yield client


def ask(client: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    response = client.get(f"{API}/{path}", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def check_suppression(answer: dict[str, Any], expected: Iterable[Point]) -> None:
    kept = list(expected)
    assert answer["suppression"]["cells"] == sum(p.cells for p in kept)
    assert answer["suppression"]["suppressed_cells"] == sum(p.suppressed for p in kept)
    assert answer["suppression"]["suppressed_cells"] > 0, "the data should exercise suppression"


# --- time series ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "dataset", "column", "by", "only"),
    [
        ({"by": "department"}, "epay-monthly", "transactions", ("department",), {}),
        (
            {"measure": "amount_aed", "by": "channel", "department": "CDA,DAFZA,DC"},
            "epay-monthly",
            "amount_aed",
            ("channel",),
            {"department": ["CDA", "DAFZA", "DC"]},
        ),
        ({}, "epay-monthly", "transactions", (), {}),
        ({"by": "service"}, "service-performance", "payments", ("service",), {}),
    ],
)
def test_timeseries_match_python_with_growth_only_between_complete_months(
    served: Served,
    business: httpx.Client,
    params: dict[str, str],
    dataset: str,
    column: str,
    by: tuple[str, ...],
    only: dict[str, list[str]],
) -> None:
    answer = ask(business, "timeseries", **params)
    assert answer["sources"] == [{"dataset": dataset, "version": "v2"}]
    expected = points(
        rows_of(served, dataset),
        lambda r: (*(r[d] for d in by), month_of(r)),
        column,
        **only,
    )
    got = {(*s["key"].values(), p["period"]): p for s in answer["series"] for p in s["points"]}
    assert set(got) == set(expected)
    growths = 0
    for key, point in expected.items():
        answered = got[key]
        assert close(answered["value"], number(point.value)), key
        assert (answered["cells"], answered["suppressed_cells"]) == (point.cells, point.suppressed)
        *group, month = key
        for field, steps in (("mom_growth_pct", 1), ("yoy_growth_pct", 12)):
            before = expected.get((*group, shifted(month, steps, "month")))
            assert close(answered[field], growth(point, before)), (key, field)
            growths += answered[field] is not None
    # Summed over everything, a month almost always holds a suppressed cell somewhere.
    assert growths > 0 or not by
    check_suppression(answer, expected.values())
    assert answer["truncated"] is False


def test_a_suppressed_month_is_empty_not_zero(business: httpx.Client) -> None:
    answer = ask(business, "timeseries", by="department")
    blanks = [
        p
        for s in answer["series"]
        for p in s["points"]
        if p["suppressed_cells"] == p["cells"] and p["cells"] > 0
    ]
    assert blanks
    assert all(p["value"] is None and p["mom_growth_pct"] is None for p in blanks)


def test_timeseries_limit_truncates(business: httpx.Client) -> None:
    answer = ask(business, "timeseries", by="department", limit="7")
    assert sum(len(s["points"]) for s in answer["series"]) == 7
    assert answer["truncated"] is True


# --- mix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dimension", "dataset", "grain", "measure", "only"),
    [
        ("channel", "epay-monthly", "quarter", "transactions", {}),
        ("payment_method", "epay-payment-methods", "year", "amount_aed", {}),
        ("channel", "epay-monthly", "month", "transactions", {"department": ["CDA", "DC"]}),
    ],
)
def test_mix_shares_and_shifts_match_python(
    served: Served,
    business: httpx.Client,
    dimension: str,
    dataset: str,
    grain: str,
    measure: str,
    only: dict[str, list[str]],
) -> None:
    params = {"dimension": dimension, "grain": grain, "measure": measure}
    if only:
        params["department"] = ",".join(only["department"])
    answer = ask(business, "mix", **params)
    assert answer["sources"] == [{"dataset": dataset, "version": "v2"}]
    expected = points(
        rows_of(served, dataset),
        lambda r: (period_of(month_of(r), grain), r[dimension]),
        measure,
        **only,
    )
    totals: dict[str, float] = defaultdict(float)
    suppressed: dict[str, int] = defaultdict(int)
    for (period, _), point in expected.items():
        totals[period] += float(point.value or 0)
        suppressed[period] += point.suppressed

    def share(key: Key) -> float | None:
        point = expected[key]
        return None if point.value is None else 100 * float(point.value) / totals[key[0]]

    got = {(p["period"], m["member"]): m for p in answer["periods"] for m in p["members"]}
    assert set(got) == set(expected)
    for key in expected:
        period, member = key
        assert close(got[key]["share_pct"], share(key)), key
        steps = {"month": 12, "quarter": 4, "year": 1}[grain]
        for field, back in (("shift_pts", 1), ("yoy_shift_pts", steps)):
            before = (shifted(period, back, grain), member)
            want = None
            if suppressed[period] == 0 and before in expected and suppressed[before[0]] == 0:
                now, then = share(key), share(before)
                want = None if now is None or then is None else now - then
            assert close(got[key][field], want), (key, field)
    by_period = {p["period"]: p for p in answer["periods"]}
    for period, total in totals.items():
        published = any(p.value is not None for (at, _), p in expected.items() if at == period)
        assert close(by_period[period]["total"], total if published else None)
        assert by_period[period]["suppressed_cells"] == suppressed[period]
    check_suppression(answer, expected.values())


def test_mix_shifts_appear_between_complete_periods(business: httpx.Client) -> None:
    answer = ask(business, "mix", dimension="channel", grain="month", department="CDA")
    assert any(m["shift_pts"] is not None for p in answer["periods"] for m in p["members"])


# --- seasonality ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "dataset", "slot", "year_of", "only"),
    [
        (
            {"profile": "month_of_year"},
            "epay-monthly",
            lambda r: int(r["month"][5:7]),
            lambda r: int(r["month"][:4]),
            {},
        ),
        (
            {"profile": "month_of_year", "year": "2013", "channel": "internet,sms"},
            "epay-monthly",
            lambda r: int(r["month"][5:7]),
            lambda r: int(r["month"][:4]),
            {"channel": ["internet", "sms"]},
        ),
        (
            {"profile": "hour_of_week", "department": "CDA,DC,DM", "measure": "amount_aed"},
            "epay-hourly-profile",
            lambda r: r["hour_of_week"],
            lambda r: r["year"],
            {"department": ["CDA", "DC", "DM"]},
        ),
    ],
)
def test_seasonality_profiles_match_python(
    served: Served,
    business: httpx.Client,
    params: dict[str, str],
    dataset: str,
    slot: Any,
    year_of: Any,
    only: dict[str, Any],
) -> None:
    answer = ask(business, "seasonality", **params)
    assert answer["sources"] == [{"dataset": dataset, "version": "v2"}]
    measure = params.get("measure", "transactions")
    rows = rows_of(served, dataset)
    if "year" in params:
        rows = [r for r in rows if year_of(r) == int(params["year"])]
    filters = only
    expected = points(rows, lambda r: (slot(r),), measure, **filters)
    years: dict[Key, set[int]] = defaultdict(set)
    for row in rows:
        if all(row[c] in v for c, v in filters.items()) and is_published(row, measure):
            years[(slot(row),)].add(year_of(row))
    per_year = {
        k: float(p.value) / len(years[k]) for k, p in expected.items() if p.value is not None
    }
    whole = sum(float(p.value or 0) for p in expected.values())
    mean = sum(per_year.values()) / len(per_year)
    name = params["profile"]
    got = {(p[name],): p for p in answer["points"]}
    assert set(got) == set(expected)
    for key, point in expected.items():
        answered = got[key]
        assert close(answered["value"], number(point.value))
        assert answered["suppressed_cells"] == point.suppressed
        if point.value is None:
            assert answered["index"] is None
            assert answered["share_pct"] is None
            continue
        assert close(answered["share_pct"], 100 * float(point.value) / whole)
        assert close(answered["index"], 100 * per_year[key] / mean), key
    if name == "hour_of_week":
        first = answer["points"][0]
        assert (
            first["day"]
            == ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"][
                first["hour_of_week"] // 24
            ]
        )
        assert first["hour"] == first["hour_of_week"] % 24
    check_suppression(answer, expected.values())


def weekday_and_hour(slot: int) -> tuple[str, int]:
    """Counted on a calendar from a Sunday midnight (30 December 2012), not by division."""
    moment = datetime(2012, 12, 30) + timedelta(hours=slot)
    return moment.strftime("%A").lower(), moment.hour


def test_every_hour_of_the_week_is_labelled_with_its_weekday(
    served: Served, business: httpx.Client
) -> None:
    answer = ask(business, "seasonality", profile="hour_of_week")
    got = {p["hour_of_week"]: (p["day"], p["hour"]) for p in answer["points"]}
    assert set(got) == {r["hour_of_week"] for r in rows_of(served, "epay-hourly-profile")}
    assert {slot: weekday_and_hour(slot) for slot in got} == got
    assert any(day == "friday" for day, _ in got.values())
    assert any(day == "saturday" for day, _ in got.values())


@pytest.mark.parametrize(
    ("slot", "day", "hour"),
    [
        (0, "sunday", 0),
        (23, "sunday", 23),
        (24, "monday", 0),
        (119, "thursday", 23),
        (120, "friday", 0),
        (128, "friday", 8),
        (143, "friday", 23),
        (144, "saturday", 0),
        (167, "saturday", 23),
    ],
)
def test_week_hours_name_their_day(slot: int, day: str, hour: int) -> None:
    assert seasonality.week_hour(slot) == {"hour_of_week": slot, "day": day, "hour": hour}
    assert weekday_and_hour(slot) == (day, hour)


def test_all_168_week_hours_are_24_a_day() -> None:
    labels = [seasonality.week_hour(slot) for slot in range(168)]
    assert [(w["day"], w["hour"]) for w in labels] == [weekday_and_hour(s) for s in range(168)]


@pytest.mark.parametrize("slot", [-128, -1, 168])
def test_a_wrapped_week_hour_is_refused_not_labelled(slot: int) -> None:
    with pytest.raises(ValueError, match=f"hour_of_week {slot} is outside 0-167"):
        seasonality.week_hour(slot)


# --- top services --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"grain": "quarter", "at": "2013-Q2", "limit": "5"},
        {"grain": "month", "at": "2013-03", "min_previous": "20000"},
        {"department": "CDA,DAFZA,DC,DHA"},
    ],
)
def test_top_services_rank_growth_like_python(
    served: Served, business: httpx.Client, params: dict[str, str]
) -> None:
    answer = ask(business, "top-services", **params)
    assert answer["sources"] == [{"dataset": "service-performance", "version": "v2"}]
    grain = params.get("grain", "year")
    minimum = int(params.get("min_previous", "1"))
    only = {"department": params["department"].split(",")} if "department" in params else {}
    expected = points(
        rows_of(served, "service-performance"),
        lambda r: (r["department"], r["service"], period_of(r["month"], grain)),
        "payments",
        **only,
    )
    at = params.get("at") or max(key[2] for key in expected)
    before = shifted(at, 1 if grain == "year" else {"quarter": 4, "month": 12}[grain], grain)
    assert (answer["period"], answer["previous_period"]) == (at, before)
    ranked, left_out = [], {"suppressed": 0, "small_base": 0}
    for (department, service, period), point in expected.items():
        if period != at:
            continue
        then = expected.get((department, service, before))
        if not point.complete or (then is not None and not then.complete):
            left_out["suppressed"] += 1
        elif then is None or then.value is None or then.value < minimum:
            left_out["small_base"] += 1
        else:
            ranked.append((-(100 * (point.value - then.value) / then.value), department, service))
    ranked.sort()
    limit = int(params.get("limit", "10"))
    got = answer["services"]
    assert [(s["department"], s["service"]) for s in got] == [(d, s) for _, d, s in ranked[:limit]]
    assert [s["rank"] for s in got] == list(range(1, len(got) + 1))
    for service, (negative, _, _) in zip(got, ranked, strict=False):
        assert close(service["growth_pct"], -negative)
    assert answer["counts"]["ranked"] == len(ranked)
    assert answer["counts"]["left_out_suppressed"] == left_out["suppressed"]
    assert answer["counts"]["left_out_small_base"] == left_out["small_base"]


# --- adoption --------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"by": "none"}, {"department": "CDA,DC", "by": "none"}])
def test_adoption_trends_match_python(
    served: Served, business: httpx.Client, params: dict[str, str]
) -> None:
    answer = ask(business, "adoption", **params)
    assert answer["sources"] == [{"dataset": "eservice-adoption", "version": "v2"}]
    by_department = params.get("by", "department") == "department"
    only = params["department"].split(",") if "department" in params else None
    sums: dict[Key, dict[str, Any]] = defaultdict(
        lambda: {"e": 0, "c": 0, "cells": 0, "suppressed": 0, "any": False}
    )
    for row in rows_of(served, "eservice-adoption"):
        if only and row["department"] not in only:
            continue
        cell = sums[(row["department"] if by_department else None, row["quarter"])]
        cell["cells"] += 1
        if is_published(row, "electronic_transactions", "counter_transactions"):
            cell["e"] += row["electronic_transactions"]
            cell["c"] += row["counter_transactions"]
            cell["any"] = True
        else:
            cell["suppressed"] += 1

    def adoption(key: Key) -> float | None:
        cell = sums[key]
        total = cell["e"] + cell["c"]
        return 100 * cell["e"] / total if cell["any"] and total else None

    got = {
        (d["department"], q["period"]): (d, q) for d in answer["departments"] for q in d["quarters"]
    }
    assert set(got) == set(sums)
    for key, cell in sums.items():
        _, quarter = got[key]
        assert close(quarter["adoption_pct"], adoption(key)), key
        assert (quarter["cells"], quarter["suppressed_cells"]) == (
            cell["cells"],
            cell["suppressed"],
        )
        before = (key[0], shifted(key[1], 1, "quarter"))
        want = None
        if cell["suppressed"] == 0 and before in sums and sums[before]["suppressed"] == 0:
            now, then = adoption(key), adoption(before)
            want = None if now is None or then is None else now - then
        assert close(quarter["change_pts"], want), key
    for trend in answer["departments"]:
        xs, ys = [], []
        for quarter in trend["quarters"]:
            key = (trend["department"], quarter["period"])
            if sums[key]["suppressed"] == 0 and adoption(key) is not None:
                xs.append(int(key[1][:4]) * 4 + int(key[1][6]) - 1)
                ys.append(adoption(key))
        want = None
        if len(xs) >= 2 and len(set(xs)) > 1:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mx) ** 2 for x in xs
            )
            want = slope * 4
        assert close(trend["trend_pts_per_year"], want), trend["department"]


# --- access -------------------------------------------------------------------------------


def analytics_paths() -> list[str]:
    """Every analytics path the app serves (they are all in the OpenAPI document, whose
    completeness the documentation test below checks)."""
    app = create_app(api_settings(Path("/nonexistent")))
    return sorted(path for path in app.openapi()["paths"] if path.startswith(API))


def test_every_analytics_route_is_tested() -> None:
    assert analytics_paths() == sorted(f"{API}/{p}" for p in PATHS)


@pytest.mark.parametrize("path", PATHS)
def test_analytics_refuse_anonymous_callers_and_plans_without_them(
    served: Served, path: str
) -> None:
    with served.client() as anonymous:
        refused = anonymous.get(f"{API}/{path}", params={"department": "nonsense"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    with served.client(headers={"X-API-Key": served.new_key("developer")}) as developer:
        refused = developer.get(f"{API}/{path}")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert "'developer' plan does not include the analytics" in error["message"]
    assert "business" in error["hint"]
    assert "enterprise" in error["hint"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("timeseries", {"by": "service", "measure": "amount_aed"}),
        ("top-services", {"measure": "amount_aed"}),
        ("top-services", {"measure": "amount_aed", "department": "DM"}),
    ],
)
def test_an_answer_from_a_dataset_outside_the_plan_is_refused(
    served: Served, business: httpx.Client, path: str, params: dict[str, str]
) -> None:
    refused = business.get(f"{API}/{path}", params=params)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert "'epay-monthly-service'" in error["message"]
    assert error["hint"] == "the plans that include it are: enterprise"


def test_enterprise_gets_services_by_month_from_the_service_table(served: Served) -> None:
    with served.client(headers={"X-API-Key": served.new_key("enterprise")}) as enterprise:
        answer = ask(enterprise, "timeseries", by="service", measure="amount_aed")
    assert answer["sources"] == [{"dataset": "epay-monthly-service", "version": "v2"}]
    expected = points(
        rows_of(served, "epay-monthly-service"), lambda r: (r["service"], month_of(r)), "amount_aed"
    )
    got = {(s["key"]["service"], p["period"]): p for s in answer["series"] for p in s["points"]}
    assert set(got) == set(expected)
    assert all(close(got[k]["value"], number(p.value)) for k, p in expected.items())


# --- bad parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message", "hint"),
    [
        ("timeseries", {"department": "XX"}, "'XX' is not a department", "DEWA, DHA"),
        ("timeseries", {"department": ","}, "no value given", "department=CDA"),
        ("mix", {"department": "RTA,Nope"}, "'Nope' is not a department", "DEWA"),
        ("timeseries", {"channel": "fax"}, "'fax' is not a channel", "internet, ivr"),
        ("timeseries", {"service": "RTA-999"}, "'RTA-999'", "RTA-001, RTA-002"),
        ("timeseries", {"service": "nothing"}, "'nothing'", "eservice-catalog"),
        ("timeseries", {"department__ne": "RTA"}, "whole members only", "no 'ne'"),
        ("timeseries", {"department__in": "RTA,DM"}, "whole members only", "department=A,B"),
        ("timeseries", {"depratment": "RTA"}, "unknown parameter", "department"),
        ("timeseries", {"by": "bank"}, "cannot break down by 'bank'", "department, channel"),
        ("timeseries", {"measure": "payers"}, "measure", "'transactions' or 'amount_aed'"),
        ("mix", {"dimension": "bank"}, "dimension", "'channel' or 'payment_method'"),
        ("mix", {"grain": "week"}, "grain", "'month', 'quarter' or 'year'"),
        ("top-services", {"grain": "quarter", "at": "2013-06"}, "not a quarter", "2013-Q2"),
        ("top-services", {"limit": "1000"}, "limit", None),
        ("seasonality", {"year": "13"}, "not a year", "2013"),
        ("seasonality", {"profile": "day_of_week"}, "profile", "'month_of_year'"),
        ("seasonality", {"profile": "hour_of_week", "channel": "sms"}, "no channel", "department"),
        ("timeseries", {"by": "channel", "service": "DM-001"}, "no published table holds", None),
        ("top-services", {"channel": "internet"}, "unknown parameter", None),
        ("adoption", {"by": "channel"}, "by", "'department' or 'none'"),
    ],
)
def test_bad_parameters_are_refused_naming_what_is_valid(
    business: httpx.Client,
    path: str,
    params: dict[str, str],
    message: str | None,
    hint: str | None,
) -> None:
    refused = business.get(f"{API}/{path}", params=params)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "bad-parameter"
    assert message is None or message in error["message"]
    assert hint is None or hint in error["hint"] or hint in error["message"]


def test_a_parameter_given_twice_is_refused(business: httpx.Client) -> None:
    refused = business.get(f"{API}/timeseries?department=RTA&department=DM")
    assert refused.status_code == 400
    assert "department=A,B" in refused.json()["error"]["hint"]


# --- versions, caching and metering ---------------------------------------------------------


def test_answers_carry_etags_and_answer_304(business: httpx.Client) -> None:
    first = business.get(f"{API}/mix", params={"grain": "year"})
    again = business.get(
        f"{API}/mix", params={"grain": "year"}, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert first.headers["Cache-Control"].startswith("private")
    # The same question spelt with its defaults is the same answer.
    spelt = business.get(
        f"{API}/mix", params={"grain": "year", "dimension": "channel", "measure": "transactions"}
    )
    assert spelt.headers["ETag"] == first.headers["ETag"]
    other = business.get(f"{API}/mix", params={"grain": "quarter"})
    assert other.headers["ETag"] != first.headers["ETag"]


def test_a_new_version_changes_sources_and_etag(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1)
    with serve_release(settings) as server, server.client() as client:
        client.headers["X-API-Key"] = server.new_key("business")
        before = client.get(f"{API}/timeseries")
        write_release(settings.datasets_dir, catalog, seed=3, only=["epay-monthly"])
        after = client.get(f"{API}/timeseries")
        adoption = client.get(f"{API}/adoption")
    assert before.json()["sources"] == [{"dataset": "epay-monthly", "version": "v1"}]
    assert after.json()["sources"] == [{"dataset": "epay-monthly", "version": "v2"}]
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.json()["series"] != before.json()["series"]
    assert adoption.json()["sources"] == [{"dataset": "eservice-adoption", "version": "v1"}]


def test_points_answered_are_metered_as_rows(served: Served) -> None:
    with served.client(headers={"X-API-Key": served.new_key("business")}) as client:
        answer = ask(client, "timeseries", by="department", limit="9")
        usage = client.get("/api/v1/me/usage").json()["usage"]
    assert sum(len(s["points"]) for s in answer["series"]) == 9
    assert usage["rows"] == 9
    assert usage["by_dataset"][f"{API}/timeseries"] == {
        "requests": 1,
        "rows": 9,
        "bytes": usage["bytes"],
    }


# --- documentation and SQL hygiene ---------------------------------------------------------


def test_every_analytics_route_and_parameter_is_documented(served: Served) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
    for path in PATHS:
        operation = spec["paths"][f"{API}/{path}"]["get"]
        assert operation["summary"], path
        assert len(operation["description"]) > 80, path
        assert {"400", "401", "403"} <= set(operation["responses"]), path
        for parameter in operation["parameters"]:
            assert parameter.get("description"), (path, parameter["name"])
            assert (
                parameter.get("examples")
                or parameter.get("example")
                or parameter["schema"].get("examples")
            ), (path, parameter["name"])


def test_caller_values_are_bound_never_written_into_the_sql() -> None:
    hostile = "RTA') OR 1=1 --"
    question = series.Series("transactions", ("department",), {"department": (hostile,)}, 10)
    compiled = series.compile_series(EPAY_MONTHLY, question)
    assert hostile not in compiled.sql
    assert "RTA" not in compiled.sql
    assert compiled.params == (hostile, 11)
    top = top_services.TopServices("transactions", "year", "2013", 7, 10, {"service": ("X",)})
    compiled = top_services.compile_growth(SERVICE_PERFORMANCE, top)
    assert "2013" not in compiled.sql
    assert "'X'" not in compiled.sql
    assert compiled.params == ("X", "2013", 7)


@pytest.mark.parametrize(
    ("dimension", "code_list"),
    [
        ("department", "departments"),
        ("channel", "channels"),
        ("service", "services"),
        ("payment_method", "payment_methods"),
    ],
)
def test_filters_accept_exactly_the_code_lists_the_gate_publishes(
    dimension: str, code_list: Any
) -> None:
    assert set(valid_members(dimension)) == code_set(load_reference(), code_list)
