"""Every error path of the open API answers in the one error shape, with the right status.

One test walks every way a request can fail; each case names what the error must mention,
so an error that says nothing useful fails as surely as one in the wrong shape.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.serving.cursors import Cursor
from conftest import Served, api_settings, serve_release
from releases import write_release

API = "/api/v1/datasets"
OPEN = "epay-monthly"
RECORDS = f"{API}/{OPEN}/records"
AGGREGATE = f"{API}/{OPEN}/aggregate"


@dataclass(frozen=True)
class Case:
    path: str
    params: dict[str, str] = field(default_factory=dict)
    status: int = 400
    code: str = "bad-parameter"
    mentions: tuple[str, ...] = ()
    server: str = "main"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)


CASES = {
    "unknown column": Case(RECORDS, {"colour": "red"}, mentions=("colour", "department")),
    "unknown operator": Case(RECORDS, {"month__like": "2012%"}, mentions=("like", "contains")),
    "operator for another type": Case(
        RECORDS, {"transactions__contains": "1"}, mentions=("contains", "gte")
    ),
    "integer expected": Case(RECORDS, {"transactions": "many"}, mentions=("many", "whole number")),
    "decimal expected": Case(RECORDS, {"amount_aed__gt": "1e9"}, mentions=("1e9", "number")),
    "boolean expected": Case(RECORDS, {"suppressed": "maybe"}, mentions=("maybe", "true or false")),
    "date expected": Case(
        f"{API}/epay-annual/records", {"year__gte": "2013-01-01"}, mentions=("whole number",)
    ),
    "too many in values": Case(
        RECORDS, {"department__in": ",".join(["RTA"] * 201)}, mentions=("200",)
    ),
    "unknown select column": Case(RECORDS, {"select": "month,secret"}, mentions=("secret",)),
    "unknown order column": Case(RECORDS, {"order": "-secret"}, mentions=("secret", "month")),
    "limit out of range": Case(RECORDS, {"limit": "10001"}, mentions=("10000",)),
    "limit not a number": Case(RECORDS, {"limit": "lots"}, mentions=("limit",)),
    "groups limit not a number": Case(
        AGGREGATE, {"limit": "1.5"}, mentions=("limit", "valid integer")
    ),
    "cursor not ours": Case(RECORDS, {"cursor": "bm90LWEtY3Vyc29y"}, mentions=("cursor",)),
    "cursor of another query": Case(
        RECORDS,
        {"cursor": Cursor("v2", 100, "0" * 24).encode(), "department": "RTA"},
        mentions=("another query",),
    ),
    # Broken percent-encoding in a filter: an empty 200 would hide the caller's mistake.
    "value not UTF-8": Case(f"{RECORDS}?department=%ff", mentions=("department", "UTF-8")),
    "overlong UTF-8": Case(f"{RECORDS}?department=%c0%af", mentions=("department", "UTF-8")),
    "lone percent sign": Case(f"{RECORDS}?department=50%", mentions=("department", "%25")),
    "NUL in a value": Case(f"{AGGREGATE}?channel=a%00", mentions=("channel", "U+0000")),
    "name not UTF-8": Case(f"{RECORDS}?depart%e9ment=RTA", mentions=("depart%e9ment", "UTF-8")),
    "Basic credentials not UTF-8": Case(
        "/oauth/token",
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xc0\xaf").decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        code="invalid-request",
        mentions=("Basic", "UTF-8", "client_id"),
    ),
    "unknown measure": Case(AGGREGATE, {"measures": "median(payers)"}, mentions=("median", "avg")),
    "sum of text": Case(AGGREGATE, {"measures": "sum(channel)"}, mentions=("channel", "numeric")),
    "unknown group": Case(AGGREGATE, {"group_by": "colour"}, mentions=("colour",)),
    "order by a missing output": Case(
        AGGREGATE, {"group_by": "month", "order": "-sum_payers"}, mentions=("sum_payers",)
    ),
    "unknown format": Case(f"{API}/{OPEN}/download.xlsx", mentions=("xlsx", "download.csv")),
    "unknown tier": Case(API, {"tier": "gold"}, mentions=("tier",)),
    "unknown topic": Case(API, {"topic": "weather"}, mentions=("weather", "payments")),
    "premium without a key": Case(
        f"{API}/payer-mix/records", status=401, code="unauthorized", mentions=("premium",)
    ),
    "unknown dataset": Case(
        f"{API}/no-such/records", status=404, code="not-found", mentions=("no-such", OPEN)
    ),
    "unknown version": Case(
        RECORDS, {"version": "v9"}, status=404, code="no-such-version", mentions=("v9", "v1")
    ),
    "unknown path": Case("/api/v2/things", status=404, code="not-found", mentions=("/api/v1",)),
    "wrong method": Case(
        RECORDS, status=405, code="method-not-allowed", method="DELETE", mentions=("method",)
    ),
    "rate limit": Case(
        RECORDS, status=429, code="rate-limited", server="limited", mentions=("2 requests",)
    ),
    "deadline": Case(
        AGGREGATE,
        {"group_by": "transactions"},
        status=503,
        code="query-timeout",
        server="slow",
        mentions=("deadline", "filters"),
    ),
    "server fault": Case(RECORDS, status=500, code="internal", server="broken"),
}


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, served: Served
) -> Iterator[dict[str, Served]]:
    catalog = load_catalog(api_settings(Path()).catalog_path)

    limited = api_settings(tmp_path_factory.mktemp("limited"))
    limited = limited.model_copy(update={"open_rate_limit": "2/minute"})
    write_release(limited.datasets_dir, catalog, only=[OPEN])

    slow = api_settings(tmp_path_factory.mktemp("slow"))
    slow = slow.model_copy(update={"query_deadline_s": 0.3})
    write_release(slow.datasets_dir, catalog, only=[OPEN, "epay-annual"])
    # Five million distinct groups: far more work than the deadline allows.
    duckdb.execute(
        "COPY (SELECT '2012-01' AS month, 'RTA' AS department, 'internet' AS channel, "
        "i AS transactions, 10 AS payers, CAST(i AS DECIMAL(18, 2)) AS amount_aed, "
        "false AS suppressed FROM range(5000000) t(i)) TO ? (FORMAT parquet)",
        [str(slow.datasets_dir / OPEN / "v1" / "data.parquet")],
    )

    broken = api_settings(tmp_path_factory.mktemp("broken"))
    write_release(broken.datasets_dir, catalog, only=[OPEN])
    (broken.datasets_dir / OPEN / "v1" / "data.parquet").unlink()

    with serve_release(limited) as a, serve_release(slow) as b, serve_release(broken) as c:
        yield {"main": served, "limited": a, "slow": b, "broken": c}


@pytest.mark.parametrize("name", list(CASES))
def test_every_error_has_the_one_shape(servers: dict[str, Served], name: str) -> None:
    case = CASES[name]
    with servers[case.server].client() as client:
        if case.server == "limited":
            for _ in range(2):
                assert client.get(case.path).status_code == 200
        response = client.request(
            case.method, case.path, params=case.params or None, headers=case.headers
        )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "hint"}
    assert body["error"]["code"] == case.code
    assert body["error"]["hint"], "every error says what to do"
    said = f"{body['error']['message']} {body['error']['hint']}"
    for word in case.mentions:
        assert word in said, f"{name}: {word!r} missing from {said!r}"


def test_a_rate_limit_refusal_says_when_to_retry(servers: dict[str, Served]) -> None:
    limited = servers["limited"]
    with limited.client() as client:
        answers = [client.get(f"{API}/{OPEN}") for _ in range(4)]
        health = client.get("/healthz")
        metrics = client.get("/metrics").text
    refused = answers[-1]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-policy"] == '"anonymous";q=2;w=60'
    assert refused.headers["ratelimit"].startswith('"anonymous";r=0;t=')
    assert health.status_code == 200, "health checks are never rate limited"
    assert 'bawaba_rate_limited_total{policy="anonymous"}' in metrics


def test_the_server_keeps_answering_after_a_deadline(servers: dict[str, Served]) -> None:
    with servers["slow"].client() as client:
        stopped = client.get(AGGREGATE, params={"group_by": "transactions"})
        # A small dataset answers well inside the deadline, on the same worker threads
        # whose queries were just interrupted.
        quick = [client.get(f"{API}/epay-annual/records") for _ in range(4)]
    assert stopped.status_code == 503
    assert [q.status_code for q in quick] == [200] * 4


def test_errors_are_not_cached(servers: dict[str, Served]) -> None:
    with httpx.Client(base_url=servers["main"].url) as client:
        response = client.get(RECORDS, params={"colour": "red"})
    assert "etag" not in response.headers
