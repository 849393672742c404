"""The OpenAPI document is a contract: schemathesis, with every check on, over a live server's
/openapi.json, anonymous and with a premium key, finds no failure and no 5xx.

Bounded (a fixed seed, a few examples per operation) so both runs take well under a minute
each; ``tests/schemathesis.toml`` says where a schema-valid request may still be a 400 and
why. The HAR report records every exchange, so "no 5xx" is read from the answers
themselves, not only from schemathesis' verdict.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET  # the report is schemathesis' own, not a caller's

import pytest

from bawaba.catalog.load import load_catalog
from conftest import Served, api_settings, serve_release
from releases import write_release

pytestmark = pytest.mark.xdist_group("openapi-contract")

CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
SEED = 20130101
EXAMPLES = 5


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # A generous deadline: on a loaded machine a query's 503 is about time, not the contract.
    settings = api_settings(tmp_path_factory.mktemp("contract"), query_deadline_s=30)
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1)
    write_release(settings.datasets_dir, catalog, seed=2)
    with serve_release(settings) as server:
        yield server


def schemathesis(server: Served, report: Path, *headers: str) -> tuple[int, str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "junit,har",
        "--report-dir",
        str(report),
    ]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(
        command, cwd=report, capture_output=True, text=True, timeout=300, check=False
    )
    return done.returncode, done.stdout + done.stderr


def statuses(report: Path) -> list[int]:
    (har,) = report.glob("har-*.json")
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    return [int(entry["response"]["status"]) for entry in entries]


def failures(report: Path) -> int:
    (junit,) = report.glob("junit-*.xml")
    suites = ET.parse(junit).getroot()  # noqa: S314 - written by schemathesis, just now
    return sum(
        int(suite.get("failures", 0)) + int(suite.get("errors", 0)) for suite in suites.iter()
    )


@pytest.mark.parametrize("caller", ["anonymous", "premium key"])
def test_schemathesis_finds_no_failure_and_no_server_error(
    contract_server: Served, tmp_path: Path, caller: str
) -> None:
    headers = (
        [] if caller == "anonymous" else [f"X-API-Key: {contract_server.new_key('enterprise')}"]
    )
    code, output = schemathesis(contract_server, tmp_path, *headers)
    answered = statuses(tmp_path)
    assert len(answered) > 500, output  # every operation was exercised, not just loaded
    assert [s for s in answered if s >= 500] == [], output
    assert failures(tmp_path) == 0, output
    assert code == 0, output


def test_uvicorn_answers_a_malformed_request_in_the_one_error_shape(
    contract_server: Served,
) -> None:
    host, port = contract_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "bad-request"


def test_a_refused_cors_preflight_is_in_the_one_error_shape(contract_server: Served) -> None:
    with contract_server.client() as client:
        answer = client.options(
            "/api/v1/datasets",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "cors-refused"
    assert "GET" in answer.json()["error"]["hint"]


@pytest.mark.parametrize(
    ("range_", "status", "code"),
    [("bytes=999999999-", 416, "range-not-satisfiable"), ("lines=1-2", 400, "bad-range")],
)
def test_range_refusals_on_downloads_are_in_the_one_error_shape(
    contract_server: Served, range_: str, status: int, code: str
) -> None:
    with contract_server.client() as client:
        answer = client.get(
            "/api/v1/datasets/epay-annual/download.parquet", headers={"Range": range_}
        )
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == code
    assert int(answer.headers["content-length"]) == len(answer.content)


def test_an_unanswered_method_on_a_ckan_path_is_a_405_in_ckans_envelope(
    contract_server: Served,
) -> None:
    with contract_server.client() as client:
        answer = client.request("TRACE", "/api/3/action/package_list")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    body = answer.json()
    assert body["success"] is False
    assert body["error"]["__type"] == "Method Not Allowed"


def test_the_document_drops_422_and_declares_the_credentials(contract_server: Served) -> None:
    with contract_server.client() as client:
        document = client.get("/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert not [op["operationId"] for op in operations if "422" in op["responses"]]
    assert set(document["components"]["securitySchemes"]) == {"apiKey", "oauth2"}
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    usage = document["paths"]["/api/v1/me/usage"]["get"]
    assert usage["security"] == [{"apiKey": []}, {"oauth2": []}]
    records = document["paths"]["/api/v1/datasets/{dataset_id}/records"]["get"]
    assert {} in records["security"]  # open datasets answer without a key
    token = document["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
    form = token["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"grant_type", "client_id", "client_secret", "scope"} <= set(form)
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain"}
    for operation in operations:
        assert operation["responses"]["200"].get("content"), operation["operationId"]
        assert operation["description"], operation["operationId"]
