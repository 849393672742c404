"""The open API end to end: a real uvicorn server on loopback, every path, over HTTP."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.serving import downloads
from conftest import (
    RELEASES_ON,
    ROOT,
    SHIPPED_DATASETS,
    Served,
    api_settings,
    env_for,
    serve_release,
)
from releases import write_release

API = "/api/v1/datasets"
OPEN = "epay-monthly"
PREMIUM = "payer-mix"


def parquet_of(served: Served, dataset: str, version: str = "v2") -> Path:
    return served.settings.datasets_dir / dataset / version / "data.parquet"


def sql(
    served: Served, dataset: str, query: str, *params: object, version: str = "v2"
) -> list[tuple[object, ...]]:
    path = str(parquet_of(served, dataset, version))
    return duckdb.execute(query.replace("$data", "read_parquet(?)"), [path, *params]).fetchall()


def test_the_release_is_read_from_where_the_suite_was_asked_to_read_it(served: Served) -> None:
    with served.client() as client:
        assert client.get(f"{API}/{OPEN}/records", params={"limit": 1}).status_code == 200
    fetched = list((served.settings.cache_dir / "objects").rglob("data.parquet"))
    if os.environ.get(RELEASES_ON) == "s3":
        assert str(served.settings.datasets_url).startswith("s3://")
        assert fetched, "the version was read through the object cache"
    else:
        assert served.settings.datasets_url is None
        assert not fetched


# --- catalog ---------------------------------------------------------------------------


def test_the_catalog_lists_every_dataset_with_its_tier_and_current_version(served: Served) -> None:
    catalog = load_catalog(served.settings.catalog_path)
    with served.client() as client:
        listed = client.get(API).json()
    assert listed["count"] == len(catalog.datasets)
    by_id = {d["id"]: d for d in listed["datasets"]}
    for dataset in catalog.datasets:
        entry = by_id[dataset.id]
        assert entry["tier"] == dataset.tier
        assert entry["current_version"] == "v2"
        assert entry["title"]["ar"] == dataset.title.ar


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"tier": "premium"},
            {
                "epay-daily",
                "epay-monthly-service",
                "epay-direct-debit-banks",
                "epay-hourly-profile",
                "epay-amount-bands",
                "payer-mix",
                "service-performance",
            },
        ),
        ({"q": "adoption"}, {"eservice-adoption", "service-maturity"}),
        ({"q": "تبني"}, {"eservice-adoption", "service-maturity"}),
        ({"topic": "adoption", "tier": "open"}, {"eservice-adoption", "service-maturity"}),
        ({"q": "no such words anywhere"}, set()),
    ],
)
def test_the_catalog_searches_and_filters(
    served: Served, query: dict[str, str], expected: set[str]
) -> None:
    with served.client() as client:
        found = client.get(API, params=query).json()["datasets"]
    ids = {d["id"] for d in found}
    if query.get("q") == "adoption" and "topic" not in query:
        assert expected <= ids
    else:
        assert ids == expected


def test_a_dataset_has_a_bilingual_dictionary_versions_and_links(served: Served) -> None:
    with served.client() as client:
        doc = client.get(f"{API}/{OPEN}").json()
        versions = client.get(f"{API}/{OPEN}/versions").json()
    assert [f["name"] for f in doc["fields"]][:3] == ["month", "department", "channel"]
    assert all(f["title"]["en"] and f["title"]["ar"] for f in doc["fields"])
    assert doc["privacy"]["k"] == 10
    assert [v["version"] for v in doc["versions"]] == ["v2", "v1"]
    assert versions["current_version"] == "v2"
    assert [v["current"] for v in versions["versions"]] == [True, False]
    assert doc["links"]["downloads"]["parquet"].endswith(f"{API}/{OPEN}/download.parquet")


# --- records ---------------------------------------------------------------------------


def test_records_filter_select_and_order_like_duckdb(served: Served) -> None:
    params = {
        "department__in": "DEWA,RTA,DM",
        "transactions__gte": "100",
        "select": "month,department,transactions",
        "order": "-transactions,month",
        "limit": "50",
    }
    with served.client() as client:
        page = client.get(f"{API}/{OPEN}/records", params=params).json()
    expected = sql(
        served,
        OPEN,
        "SELECT month, department, transactions FROM $data WHERE department IN ('DEWA','RTA','DM') "
        "AND transactions >= 100 ORDER BY transactions DESC, month, department, channel LIMIT 50",
    )
    assert page["columns"] == ["month", "department", "transactions"]
    assert [tuple(r.values()) for r in page["rows"]] == expected
    total = sql(
        served,
        OPEN,
        "SELECT count(*) FROM $data "
        "WHERE department IN ('DEWA','RTA','DM') AND transactions >= 100",
    )
    assert page["total"] == total[0][0]


def test_contains_ignores_case(served: Served) -> None:
    with served.client() as client:
        rows = client.get(
            f"{API}/{OPEN}/records", params={"channel__contains": "MOB", "limit": 10000}
        ).json()["rows"]
    assert rows
    assert all("mob" in r["channel"].lower() for r in rows)


def test_cursor_pages_cover_every_row_once_and_stay_on_their_version(
    served: Served, tmp_path: Path
) -> None:
    with served.client() as client:
        first = client.get(
            f"{API}/{OPEN}/records", params={"limit": 70, "order": "-amount_aed"}
        ).json()
        seen = list(first["rows"])
        page = first
        while page["next"]:
            page = client.get(page["next"]).json()
            assert page["version"] == "v2"
            seen.extend(page["rows"])
    assert len(seen) == first["total"] == sql(served, OPEN, "SELECT count(*) FROM $data")[0][0]
    keys = [(r["month"], r["department"], r["channel"]) for r in seen]
    assert len(set(keys)) == len(keys)


def test_a_cursor_keeps_its_version_when_a_new_one_is_published(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1, only=[OPEN])
    with serve_release(settings) as server, server.client() as client:
        first = client.get(f"{API}/{OPEN}/records", params={"limit": 100}).json()
        write_release(settings.datasets_dir, catalog, seed=9, only=[OPEN])
        assert client.get(f"{API}/{OPEN}").json()["current_version"] == "v2"
        second = client.get(
            f"{API}/{OPEN}/records", params={"limit": 100, "cursor": first["next_cursor"]}
        ).json()
    assert second["version"] == "v1"
    expected = sql(
        Served(server.url, settings),
        OPEN,
        "SELECT month, department, channel FROM $data "
        "ORDER BY month, department, channel LIMIT 100 OFFSET 100",
        version="v1",
    )
    assert [(r["month"], r["department"], r["channel"]) for r in second["rows"]] == expected


def test_an_earlier_version_is_readable_on_every_data_path(served: Served) -> None:
    with served.client() as client:
        old = client.get(f"{API}/{OPEN}/records", params={"version": "v1", "limit": 10000}).json()
        parquet = client.get(f"{API}/{OPEN}/download.parquet", params={"version": "v1"}).content
        counted = client.get(f"{API}/{OPEN}/aggregate", params={"version": "v1"}).json()
    assert old["version"] == "v1"
    assert old["total"] == sql(served, OPEN, "SELECT count(*) FROM $data", version="v1")[0][0]
    assert pq.read_table(io.BytesIO(parquet)).num_rows == old["total"]
    assert counted["rows"] == [{"count": old["total"]}]


# --- aggregate -------------------------------------------------------------------------


def test_aggregate_groups_and_measures_like_duckdb(served: Served) -> None:
    params = {
        "group_by": "department",
        "measures": "count,sum(transactions),avg(payers),max(month),sum(amount_aed)",
        "suppressed": "false",
        "order": "-sum_transactions",
    }
    with served.client() as client:
        answer = client.get(f"{API}/{OPEN}/aggregate", params=params).json()
    expected = sql(
        served,
        OPEN,
        "SELECT department, count(*), sum(transactions), avg(payers), max(month), "
        "sum(amount_aed) FROM $data WHERE suppressed = false GROUP BY department "
        "ORDER BY sum(transactions) DESC, department",
    )
    assert answer["columns"] == [
        "department",
        "count",
        "sum_transactions",
        "avg_payers",
        "max_month",
        "sum_amount_aed",
    ]
    got = [tuple(r.values()) for r in answer["rows"]]
    assert [g[:3] + g[4:5] for g in got] == [e[:3] + e[4:5] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3] == pytest.approx(e[3])
        assert g[5] == pytest.approx(float(e[5]))
    assert answer["truncated"] is False


def test_aggregate_reports_truncation(served: Served) -> None:
    with served.client() as client:
        answer = client.get(
            f"{API}/{OPEN}/aggregate", params={"group_by": "month", "limit": 3}
        ).json()
    assert len(answer["rows"]) == 3
    assert answer["truncated"] is True


# --- downloads -------------------------------------------------------------------------


def test_a_whole_parquet_download_is_the_published_file(served: Served) -> None:
    with served.client() as client:
        response = client.get(f"{API}/{OPEN}/download.parquet")
    assert response.status_code == 200
    assert response.content == parquet_of(served, OPEN).read_bytes()
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert f'filename="{OPEN}-v2.parquet"' in response.headers["content-disposition"]


def test_parquet_downloads_answer_head_and_ranges(served: Served) -> None:
    whole = parquet_of(served, OPEN).read_bytes()
    with served.client() as client:
        head = client.head(f"{API}/{OPEN}/download.parquet")
        tail = client.get(f"{API}/{OPEN}/download.parquet", headers={"Range": "bytes=-8"})
        filtered_head = client.head(f"{API}/{OPEN}/download.parquet", params={"department": "RTA"})
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(whole)
    assert head.headers["accept-ranges"] == "bytes"
    assert tail.status_code == 206
    assert tail.content == whole[-8:]
    assert tail.content.endswith(b"PAR1")
    assert filtered_head.status_code == 200
    assert int(filtered_head.headers["content-length"]) > 0


def test_a_small_download_sent_from_memory_is_the_answer_its_file_gives(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download file of at most ``HELD_BYTES`` is read whole and sent from memory: the
    same status, headers and bytes as the file sent by Starlette, for GET, HEAD and Range."""

    # When it was sent, when the cache last served the file, what the limits have left.
    changing = {"date", "last-modified", "ratelimit", "x-ratelimit-remaining"}

    def answers() -> list[tuple[int, dict[str, str], bytes]]:
        url = f"{API}/{OPEN}/download.csv"
        with served.client() as client:
            got = [
                client.get(url, params={"department": "RTA"}),
                client.head(url, params={"department": "RTA"}),
                client.get(url, params={"department": "RTA"}, headers={"Range": "bytes=5-24"}),
            ]
        return [
            (r.status_code, {k: v for k, v in r.headers.items() if k not in changing}, r.content)
            for r in got
        ]

    held = answers()
    monkeypatch.setattr(downloads, "HELD_BYTES", -1)  # every file sent from disk
    from_disk = answers()
    assert held == from_disk
    whole, head, part = held
    assert whole[0] == 200
    assert int(whole[1]["content-length"]) == len(whole[2]) > 0
    assert head[1]["content-length"] == whole[1]["content-length"]
    assert head[2] == b""
    assert part[0] == 206
    assert part[2] == whole[2][5:25]


def test_filtered_downloads_in_every_format_hold_the_same_rows(served: Served) -> None:
    params = {
        "department": "RTA",
        "select": "month,channel,transactions,amount_aed",
        "order": "month,channel",
    }
    expected = sql(
        served,
        OPEN,
        "SELECT month, channel, transactions, amount_aed FROM $data WHERE department = 'RTA' "
        "ORDER BY month, channel, department",
    )
    with served.client() as client:
        as_csv = client.get(f"{API}/{OPEN}/download.csv", params=params)
        as_json = client.get(f"{API}/{OPEN}/download.json", params=params)
        as_parquet = client.get(f"{API}/{OPEN}/download.parquet", params=params)
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["month", "channel", "transactions", "amount_aed"]
    assert [r[0] for r in rows[1:]] == [e[0] for e in expected]
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert [(r["month"], r["channel"]) for r in as_json.json()] == [e[:2] for e in expected]
    table = pq.read_table(io.BytesIO(as_parquet.content))
    assert [tuple(r.values()) for r in table.to_pylist()] == expected


# --- caching and HTTP behaviour --------------------------------------------------------


def test_etag_and_conditional_requests(served: Served) -> None:
    url = f"{API}/{OPEN}/records"
    with served.client() as client:
        first = client.get(url, params={"department": "RTA", "limit": 5})
        reordered = client.get(url, params={"limit": 5, "department": "RTA"})
        other = client.get(url, params={"department": "DM", "limit": 5})
        again = client.get(
            url,
            params={"department": "RTA", "limit": 5},
            headers={"If-None-Match": first.headers["etag"]},
        )
        pinned = client.get(url, params={"version": "v1"})
        download = client.get(f"{API}/{OPEN}/download.csv")
        download_again = client.get(
            f"{API}/{OPEN}/download.csv", headers={"If-None-Match": download.headers["etag"]}
        )
    assert first.headers["etag"] == reordered.headers["etag"] != other.headers["etag"]
    assert first.headers["etag"].startswith('"v2-')
    assert again.status_code == 304
    assert again.content == b""
    assert first.headers["cache-control"] == "public, max-age=60"
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert download_again.status_code == 304


def test_gzip_and_cors(served: Served) -> None:
    with served.client() as client:
        zipped = client.get(
            f"{API}/{OPEN}/records", params={"limit": 1000}, headers={"Accept-Encoding": "gzip"}
        )
        preflight = client.options(
            f"{API}/{OPEN}/records",
            headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
        )
        cross = client.get(f"{API}/{OPEN}/records", headers={"Origin": "https://example.org"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert json.loads(zipped.content)["rows"]  # httpx already inflated it
    assert len(gzip.compress(zipped.content)) < len(zipped.content)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert cross.headers["access-control-allow-origin"] == "*"
    assert "ETag" in cross.headers["access-control-expose-headers"]


def test_premium_data_needs_a_key_but_its_metadata_is_public(served: Served) -> None:
    with served.client() as client:
        meta = client.get(f"{API}/{PREMIUM}")
        for path in ("records", "aggregate", "download.csv", "download.parquet"):
            refused = client.get(f"{API}/{PREMIUM}/{path}")
            assert refused.status_code == 401, path
            assert "subscribe" in refused.json()["error"]["hint"]
    assert meta.status_code == 200
    assert meta.json()["tier"] == "premium"


# --- operations ------------------------------------------------------------------------


def test_healthz_and_metrics(served: Served) -> None:
    with served.client() as client:
        client.get(f"{API}/{OPEN}/records", params={"limit": 3, "department": "DLD"})
        health = client.get("/healthz").json()
        metrics = client.get("/metrics")
    assert health["status"] == "ok"
    assert health["datasets"] == SHIPPED_DATASETS
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'bawaba_http_requests_total{method="GET",route="/api/v1/datasets/{dataset_id}/records",status="200"}'
        in text
    )
    assert "bawaba_http_request_duration_seconds_bucket" in text
    assert 'bawaba_duckdb_query_seconds_count{kind="records"}' in text
    assert "bawaba_rate_limited_total" in text or "bawaba_rate_limited" in text


def test_openapi_documents_every_path_and_parameter(served: Served) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description"), f"{method} {path}"
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), f"{method} {path} {parameter['name']}"
    records = spec["paths"]["/api/v1/datasets/{dataset_id}/records"]["get"]
    assert "filters" in {p["name"] for p in records["parameters"]}


# --- the command -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bawaba_serve_serves_the_published_datasets(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), seed=3)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bawaba.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env_for(settings) | {"BAWABA_OPEN_RATE_LIMIT": "1000/minute"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert health.json()["datasets"] == SHIPPED_DATASETS
        page = httpx.get(f"http://127.0.0.1:{port}{API}/epay-annual/records").json()
        published = settings.datasets_dir / "epay-annual" / "v1" / "data.parquet"
        assert page["version"] == "v1"
        assert page["total"] == pq.read_metadata(published).num_rows
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/docs" in out
