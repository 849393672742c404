"""Limits and quotas under ``bawaba serve --workers 2``: every limit holds exactly, counted
from the answers of concurrent clients, whichever process answers them."""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from bawaba.catalog.load import load_catalog
from bawaba.keys.store import KeyStore
from conftest import ROOT, api_settings, serve_processes
from releases import write_release

API = "/api/v1/datasets"
ANONYMOUS_PER_MINUTE = 40
REQUEST_QUOTA = 30
ROW_QUOTA = 100
FAILED_AUTHENTICATIONS = 25
QUOTA_PLANS = {
    "thirty_requests": {"monthly_requests": REQUEST_QUOTA, "monthly_rows": None},
    "hundred_rows": {"monthly_requests": None, "monthly_rows": ROW_QUOTA},
}


def _plans_file(folder: Path) -> Path:
    real = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    business = real["plans"]["business"]
    for name, overrides in QUOTA_PLANS.items():
        real["plans"][name] = {**business, "rate_limits": "100000/minute", **overrides}
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(real, allow_unicode=True), encoding="utf-8")
    return path


class TwoWorkers:
    def __init__(self, url: str, store: KeyStore) -> None:
        self.url = url
        self.store = store

    def new_key(self, plan: str) -> str:
        return self.store.create("Test Org", plan, None)[1]

    def get_all(
        self, path: str, times: int, headers: list[dict[str, str]] | None = None
    ) -> list[httpx.Response]:
        """``times`` GETs of ``path`` at once (``send_all``)."""
        return self.send_all(
            [
                httpx.Request("GET", self.url + path, headers=headers[i] if headers else None)
                for i in range(times)
            ]
        )

    def send_all(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        """``requests`` from 16 concurrent clients, each on a new connection (so the kernel
        spreads them over both worker processes)."""

        def one(request: httpx.Request) -> httpx.Response:
            with httpx.Client(timeout=30) as client:
                return client.send(request)

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(one, requests))


@contextmanager
def _two_workers(root: Path) -> Iterator[TwoWorkers]:
    settings = api_settings(
        root,
        plans_path=_plans_file(root),
        open_rate_limit=f"{ANONYMOUS_PER_MINUTE}/minute",
        failed_auth_limit=f"{FAILED_AUTHENTICATIONS}/minute",
    )
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), seed=14)
    with serve_processes(settings, 2, BAWABA_USAGE_FLUSH_S="0.2") as url:
        yield TwoWorkers(url, KeyStore.open(settings))


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoWorkers]:
    with _two_workers(tmp_path_factory.mktemp("workers")) as running:
        yield running


@pytest.fixture
def two_fresh_workers(tmp_path: Path) -> Iterator[TwoWorkers]:
    """Two workers whose limits no other test has spent: a client secret exchange is an
    anonymous request too, and would meet the anonymous limit the tests above reach."""
    with _two_workers(tmp_path) as running:
        yield running


def test_the_anonymous_limit_lets_exactly_its_requests_through(two_workers: TwoWorkers) -> None:
    answers = two_workers.get_all(f"{API}/epay-annual/records?limit=1", 100)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: ANONYMOUS_PER_MINUTE, 429: 100 - ANONYMOUS_PER_MINUTE}
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "rate-limited"


def test_a_request_quota_serves_exactly_its_requests(two_workers: TwoWorkers) -> None:
    key = two_workers.new_key("thirty_requests")
    answers = two_workers.get_all(
        f"{API}/epay-annual/records?limit=2", 80, headers=[{"X-API-Key": key}] * 80
    )
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: REQUEST_QUOTA, 429: 80 - REQUEST_QUOTA}
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {"quota-spent"}
    usage = httpx.get(f"{two_workers.url}/api/v1/me/usage", headers={"X-API-Key": key}).json()
    assert usage["quota"]["requests"] == {"quota": REQUEST_QUOTA, "used": 30, "remaining": 0}


def test_a_row_quota_serves_exactly_its_rows(two_workers: TwoWorkers) -> None:
    key = two_workers.new_key("hundred_rows")
    answers = two_workers.get_all(
        f"{API}/epay-annual/records?limit=7", 40, headers=[{"X-API-Key": key}] * 40
    )
    served = [a for a in answers if a.status_code == 200]
    assert sum(len(a.json()["rows"]) for a in served) == ROW_QUOTA
    assert {a.status_code for a in answers} == {200, 429}
    # The last page is cut to what remained, and says where the rest starts.
    short = [a.json() for a in served if len(a.json()["rows"]) < 7]
    assert [len(page["rows"]) for page in short] == [ROW_QUOTA % 7]
    assert short[0]["next_cursor"] is not None
    time.sleep(0.6)  # both processes write their usage by dataset every 0.2 s
    usage = httpx.get(f"{two_workers.url}/api/v1/me/usage", headers={"X-API-Key": key}).json()
    assert usage["quota"]["rows"] == {"quota": ROW_QUOTA, "used": ROW_QUOTA, "remaining": 0}
    assert usage["usage"]["rows"] == ROW_QUOTA


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_failed_authentications_are_limited_per_address(
    two_fresh_workers: TwoWorkers,
) -> None:
    """A wrong key, a wrong token and a wrong client secret, 60 at once on two workers:
    exactly the limit is told "not valid"."""
    records = f"{two_fresh_workers.url}{API}/epay-annual/records?limit=1"
    bad = [
        httpx.Request("GET", records, headers={"X-API-Key": f"bwb_{'a' * 12}_{secret}"})
        if i % 3 == 0
        else httpx.Request("GET", records, headers={"Authorization": f"Bearer {secret}"})
        if i % 3 == 1
        else httpx.Request(
            "POST",
            f"{two_fresh_workers.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": _basic(f"bwb_{'c' * 12}", secret)},
        )
        for i, secret in enumerate(secrets.token_urlsafe(32) for _ in range(60))
    ]
    answers = two_fresh_workers.send_all(bad)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {401: FAILED_AUTHENTICATIONS, 429: 60 - FAILED_AUTHENTICATIONS}
    # Each kind was judged: a third of the 60 are exchanges, in turn with the others.
    assert {a.request.method for a in answers if a.status_code == 401} == {"GET", "POST"}
    assert all(
        "failed authentications" in a.json()["error"]["message"]
        for a in answers
        if a.status_code == 429
    )
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    # Past the limit even a valid key from that address waits: a guess that happened to be
    # right would otherwise still be told so.
    good = two_fresh_workers.new_key("business")
    locked = httpx.get(
        f"{two_fresh_workers.url}{API}/epay-annual/records", headers={"X-API-Key": good}
    )
    assert locked.status_code == 429
    token = httpx.post(
        f"{two_fresh_workers.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(f"bwb_{'b' * 12}", "not-the-secret"),
    )
    assert token.status_code == 429
