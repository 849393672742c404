"""Rate limits, monthly quotas and usage counted in Redis (``BAWABA_RATE_LIMIT_STORAGE_URI=
redis://…``), against Debian's redis-server on loopback.

First the counters themselves, hit at once from many threads and processes: every total is
exact, and every window and month is dropped by Redis when it is over. Then two real
``bawaba serve`` replicas, each its own process and var/ folder, over one Redis: a limit or
quota lets exactly its requests and rows through, counted from the answers of concurrent
clients spread over both, and each replica's /me/usage reports the other's requests the
moment they end (the key stores' copy is written only every minute here, so it cannot be
what the report read).
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limits import parse_many
from services import RedisServer, redis_server

from bawaba.api.limits import Caller, RateLimits
from bawaba.catalog.load import load_catalog
from bawaba.core.counters import open_counter
from bawaba.core.key_store import Usage, month_of
from bawaba.core.redis_client import connect
from bawaba.core.redis_windows import RedisWindows
from bawaba.errors import ConfigError
from bawaba.keys.redis_quotas import RedisQuotas
from bawaba.keys.store import KeyStore
from conftest import ROOT, api_settings, serve_processes
from releases import write_release

pytestmark = pytest.mark.xdist_group("redis")

SECRET = "a-store-secret-of-32-characters!"  # noqa: S105 - a throwaway store's
API = "/api/v1/datasets"
RECORDS = f"{API}/epay-annual/records"
ANONYMOUS_PER_MINUTE = 40
REQUEST_QUOTA = 30
ROW_QUOTA = 100
PROCESSES = 4
_databases = iter(range(1, 16))
"""Redis database numbers, one per test that needs a clean one (0 is the replicas')."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def fresh(server: RedisServer) -> str:
    """A Redis database of its own, empty."""
    url = server.url(next(_databases))
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys.sqlite", SECRET.encode())


def _ttls(url: str) -> dict[bytes, int]:
    client = redis.Redis.from_url(url)
    return {key: client.pttl(key) for key in client.scan_iter("bawaba:*")}


# --- the window counter ----------------------------------------------------------------


def test_redis_is_chosen_for_a_redis_uri_and_every_limit_of_a_caller_holds(fresh: str) -> None:
    counter = open_counter(fresh, Path("/nonexistent"))
    assert isinstance(counter, RedisWindows)
    limits = RateLimits(counter)
    caller = Caller("addr:192.0.2.9", "anonymous", list(parse_many("4/minute;6/hour;9/day")))
    verdicts = [limits.check(caller) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True] * 4 + [False]
    assert verdicts[0].remaining == 3  # per minute is closest to refusing
    assert verdicts[4].limit.amount == 4
    assert 55 <= verdicts[4].reset_in <= 60
    assert not limits.peek(caller).allowed
    assert limits.peek(Caller("addr:192.0.2.10", "anonymous", caller.limits)).allowed
    # Every window's key goes when its window ends: nothing is kept for ever.
    ttls = _ttls(fresh)
    assert len(ttls) == 3
    assert all(0 < ms <= 86_400_000 for ms in ttls.values()), ttls


def test_an_ended_window_starts_again_at_the_next_hit(fresh: str) -> None:
    windows = RedisWindows(connect(fresh))
    assert [w.count for w in windows.hit("k", [0, 60])] == [1, 1]
    assert [w.count for w in windows.hit("k", [0, 60])] == [1, 2]
    assert [w.count for w in windows.peek("k", [0, 60])] == [0, 2]
    assert [w.count for w in windows.hit("short", [1], cost=3)] == [3]
    time.sleep(1.1)
    assert [w.count for w in windows.peek("short", [1])] == [0]
    again = windows.hit("short", [1])
    assert [w.count for w in again] == [1]
    assert again[0].ends_at - time.time() > 0.9  # a new window, from this hit


Hits = st.lists(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 5)), min_size=1, max_size=30),
    min_size=2,
    max_size=4,
)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(threads=Hits)
def test_hits_from_many_threads_at_once_add_up_one_after_another(
    fresh: str, threads: list[list[tuple[str, int]]]
) -> None:
    """Each hit's count is the total before it plus its cost: sorted by count, the hits of a
    key chain from 0 to their sum with no gap and no repeat, whatever the interleaving."""
    client = connect(fresh)
    client.flushdb()
    windows = RedisWindows(client)
    seen: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(threads))

    def run(hits: list[tuple[str, int]]) -> None:
        start.wait()
        for key, cost in hits:
            count = windows.hit(key, [60, 3600], cost)
            with lock:
                seen.append((key, cost, count[0].count))
            assert count[0].count == count[1].count

    workers = [threading.Thread(target=run, args=(hits,)) for hits in threads]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for key in "abc":
        mine = sorted((count, cost) for k, cost, count in seen if k == key)
        total = 0
        for count, cost in mine:
            total += cost
            assert count == total
        expected = sum(cost for hits in threads for k, cost in hits if k == key)
        assert [w.count for w in windows.peek(key, [60, 3600])] == [expected, expected]


def _count_at_once(
    url: str, key_store: str, counted: multiprocessing.Queue[tuple[int, int, int]]
) -> None:
    """One process's share: 40 hits of a 50/minute limit, then 30 tries at a quota of 50
    requests and 100 rows, 3 rows a request; what it was let through."""
    client = connect(url)
    limits = RateLimits(RedisWindows(client))
    caller = Caller("addr:one", "anonymous", list(parse_many("50/minute;70/hour")))
    allowed = sum(limits.check(caller).allowed for _ in range(40))
    quotas = RedisQuotas(client, KeyStore(Path(key_store), SECRET.encode()))
    requests = rows = 0
    month = month_of(datetime.now(UTC))
    for _ in range(30):
        if quotas.admit("key", month, 50, 100) is None:
            requests += 1
            rows += quotas.take_rows("key", month, 100, 3, whole=False)
    counted.put((allowed, requests, rows))


def test_limits_and_quotas_shared_by_processes_let_exactly_their_counts_through(
    fresh: str, store: KeyStore
) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    args = (fresh, str(store.path), queue)
    workers = [context.Process(target=_count_at_once, args=args) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    counted = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sum(a for a, _, _ in counted) == 50  # of 160 hits
    # The row quota binds: 33 requests of 3 rows, the 34th cut to 1. A request admitted
    # while the last rows were being taken by another process gets none (admission and
    # rows are two steps), so up to one more per other process is admitted.
    requests, rows = sum(r for _, r, _ in counted), sum(n for _, _, n in counted)
    assert rows == 100
    assert 34 <= requests <= 34 + PROCESSES - 1
    month = month_of(datetime.now(UTC))
    assert RedisQuotas(connect(fresh), store).used("key", month) == (requests, 100)


# --- quotas and usage ------------------------------------------------------------------


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wants=st.lists(st.tuples(st.integers(0, 40), st.booleans(), st.integers(0, 40)), max_size=20),
    quota=st.integers(1, 200),
)
def test_rows_taken_and_given_back_never_pass_the_quota(
    fresh: str, store: KeyStore, wants: list[tuple[int, bool, int]], quota: int
) -> None:
    client = connect(fresh)
    client.flushdb()
    quotas = RedisQuotas(client, store)
    month = month_of(datetime.now(UTC))
    assert quotas.admit("key", month, None, quota) is None
    used = 0
    for wanted, whole, answered in wants:
        got = quotas.take_rows("key", month, quota, wanted, whole=whole)
        left = quota - used
        assert got == ((wanted if wanted <= left else 0) if whole else min(wanted, left))
        # The request answers at most what it got and gives the rest back.
        answered = min(answered, got)
        quotas.add_rows("key", month, answered - got)
        used += answered
        assert quotas.used("key", month) == (1, used)


def test_a_month_starts_from_the_key_store_and_resumes_from_it_after_redis_loses_it(
    fresh: str, store: KeyStore
) -> None:
    key, _ = store.create("Acme", "business", None)
    month = month_of(datetime.now(UTC))
    store.add_usage({(key.id, month, "payer-mix"): Usage(9, 90, 900)})
    quotas = RedisQuotas(connect(fresh), store)
    assert quotas.admit(key.id, month, 10, None) is None
    quotas.record(key.id, month, "payer-mix", 5, 50)
    assert quotas.used(key.id, month) == (10, 90)
    assert quotas.usage(key.id, month) == {"payer-mix": Usage(10, 95, 950)}
    refused = quotas.admit(key.id, month, 10, None)
    assert refused is not None
    assert (refused.what, refused.used) == ("requests", 10)
    # The hash goes a week after the month ends.
    ttl = connect(fresh).ttl(f"bawaba:use:{key.id}:{month}")
    assert 7 * 86_400 < ttl <= 39 * 86_400
    # Redis restarted empty: the key store's record is where the month resumes from.
    connect(fresh).flushdb()
    assert quotas.usage(key.id, month) is None
    store.add_usage({(key.id, month, "payer-mix"): Usage(1, 5, 50)})  # the meter's flush
    refused = quotas.admit(key.id, month, 10, None)
    assert refused is not None
    assert refused.used == 10
    assert quotas.used(key.id, month) == (10, 95)


def test_a_redis_that_cannot_be_reached_stops_the_start_naming_it_without_its_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"redis://bawaba:hunter2-secret@127.0.0.1:{port}/0"
    with pytest.raises(ConfigError, match="cannot reach Redis") as refused:
        open_counter(uri, Path("/nonexistent"))
    assert f"127.0.0.1:{port}" in str(refused.value)
    assert "hunter2" not in str(refused.value)


# --- two replicas over one Redis -------------------------------------------------------


@dataclass
class Replicas:
    urls: list[str]
    store: KeyStore

    def new_key(self, plan: str) -> str:
        return self.store.create("Test Org", plan, None)[1]

    def get_all(
        self, path: str, times: int, headers: dict[str, str] | None = None
    ) -> list[tuple[int, httpx.Response]]:
        """``times`` GETs from 16 concurrent clients, each to the replicas in turn; the
        replica's index with each answer."""

        def one(i: int) -> tuple[int, httpx.Response]:
            url = self.urls[i % len(self.urls)]
            return i % len(self.urls), httpx.get(url + path, headers=headers, timeout=30)

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(one, range(times)))

    def usage(self, key: str, requests: int) -> list[dict[str, Any]]:
        """/me/usage as each replica reports it once it counts ``requests`` requests.

        A request is metered as it ends, a moment after its last byte has gone: a report
        asked for at once may still miss the last few (never for longer than that, and
        never counting more, which the callers' equalities would catch)."""
        reports = []
        for url in self.urls:
            deadline = time.monotonic() + 2
            while True:
                report = httpx.get(
                    f"{url}/api/v1/me/usage", headers={"X-API-Key": key}, timeout=30
                ).json()
                if report["usage"]["requests"] >= requests or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            reports.append(report)
        return reports


def _plans_file(folder: Path) -> Path:
    real = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    business = real["plans"]["business"]
    plans = {
        "thirty_requests": {"monthly_requests": REQUEST_QUOTA, "monthly_rows": None},
        "hundred_rows": {"monthly_requests": None, "monthly_rows": ROW_QUOTA},
        "unmetered": {"monthly_requests": None, "monthly_rows": None},
    }
    for name, overrides in plans.items():
        real["plans"][name] = {**business, "rate_limits": "100000/minute", **overrides}
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(real, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def replicas(server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp("replicas")
    base = api_settings(
        root,
        plans_path=_plans_file(root),
        open_rate_limit=f"{ANONYMOUS_PER_MINUTE}/minute",
        key_store_secret=SECRET,
    )
    write_release(base.datasets_dir, load_catalog(base.catalog_path), seed=15)
    redis.Redis.from_url(server.url(0)).flushdb()
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                serve_processes(
                    base,
                    1,
                    # Each its own var/ (no shared rate-limit file): only Redis joins them.
                    BAWABA_VAR_DIR=str(root / f"var-{n}"),
                    BAWABA_RATE_LIMIT_STORAGE_URI=server.url(0),
                    BAWABA_KEY_STORE_SECRET=SECRET,
                    # The key store's usage is a minute behind: /me/usage must read Redis.
                    BAWABA_USAGE_FLUSH_S="60",
                )
            )
            for n in range(2)
        ]
        yield Replicas(urls, KeyStore(base.key_store_path, SECRET.encode()))


def test_the_anonymous_limit_lets_exactly_its_requests_through_both_replicas(
    replicas: Replicas,
) -> None:
    answers = replicas.get_all(f"{RECORDS}?limit=1", 100)
    statuses = Counter(a.status_code for _, a in answers)
    assert statuses == {200: ANONYMOUS_PER_MINUTE, 429: 100 - ANONYMOUS_PER_MINUTE}
    assert {n for n, a in answers if a.status_code == 200} == {0, 1}  # both answered some
    refused = next(a for _, a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "rate-limited"
    assert int(refused.headers["retry-after"]) >= 1


def test_a_request_quota_serves_exactly_its_requests_over_both_replicas(
    replicas: Replicas,
) -> None:
    key = replicas.new_key("thirty_requests")
    answers = replicas.get_all(f"{RECORDS}?limit=2", 80, headers={"X-API-Key": key})
    statuses = Counter(a.status_code for _, a in answers)
    assert statuses == {200: REQUEST_QUOTA, 429: 80 - REQUEST_QUOTA}
    assert {a.json()["error"]["code"] for _, a in answers if a.status_code == 429} == {
        "quota-spent"
    }
    for report in replicas.usage(key, REQUEST_QUOTA):
        assert report["quota"]["requests"] == {
            "quota": REQUEST_QUOTA,
            "used": REQUEST_QUOTA,
            "remaining": 0,
        }
        assert report["usage"]["requests"] == REQUEST_QUOTA
        assert report["usage"]["rows"] == 2 * REQUEST_QUOTA


def test_a_row_quota_serves_exactly_its_rows_over_both_replicas(replicas: Replicas) -> None:
    key = replicas.new_key("hundred_rows")
    answers = replicas.get_all(f"{RECORDS}?limit=7", 40, headers={"X-API-Key": key})
    served = [a.json() for _, a in answers if a.status_code == 200]
    assert sum(len(page["rows"]) for page in served) == ROW_QUOTA
    assert {a.status_code for _, a in answers} == {200, 429}
    short = [page for page in served if len(page["rows"]) < 7]
    assert [len(page["rows"]) for page in short] == [ROW_QUOTA % 7]
    admitted = replicas.usage(key, 0)[0]["quota"]["requests"]["used"]  # exact at once
    reports = replicas.usage(key, admitted)
    assert reports[0]["usage"] == reports[1]["usage"]
    for report in reports:
        assert report["quota"]["rows"] == {"quota": ROW_QUOTA, "used": ROW_QUOTA, "remaining": 0}
        assert report["usage"]["rows"] == ROW_QUOTA
        # Every request admitted is metered, those cut to no rows too.
        assert report["usage"]["requests"] == report["quota"]["requests"]["used"]
        assert report["usage"]["requests"] >= len(served)


def test_usage_by_dataset_is_exact_on_both_replicas_as_soon_as_requests_end(
    replicas: Replicas,
) -> None:
    key = replicas.new_key("unmetered")
    headers = {"X-API-Key": key}
    paths = [f"{RECORDS}?limit=3", f"{API}/payer-mix/records?limit=4"]
    sent: Counter[str] = Counter()
    for n in range(9):
        path = paths[n % 2 if n < 6 else 0]
        answer = httpx.get(replicas.urls[n % 2] + path, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        sent[path.split("/")[4]] += 1
    reports = replicas.usage(key, 9)  # the key stores hold none of it for a minute
    assert reports[0]["usage"] == reports[1]["usage"]
    by_dataset = reports[0]["usage"]["by_dataset"]
    assert {name: u["requests"] for name, u in by_dataset.items()} == sent
    assert by_dataset["epay-annual"]["rows"] == 3 * sent["epay-annual"]
    assert by_dataset["payer-mix"]["rows"] == 4 * sent["payer-mix"]
    assert reports[0]["usage"]["requests"] == 9
    assert all(u["bytes"] > 0 for u in by_dataset.values())


def test_a_redis_that_stops_mid_run_is_answered_503_to_retry_not_500(
    tmp_path: Path,
) -> None:
    """Redis going away while a replica serves: requests are refused in the one error
    shape with a 503 and a ``Retry-After``, not served uncounted and not failed as a 500;
    the replica answers again once Redis is back on its address."""
    base = api_settings(tmp_path, open_rate_limit="100000/minute")
    write_release(base.datasets_dir, load_catalog(base.catalog_path), seed=16)
    with ExitStack() as stack:
        own = stack.enter_context(ExitStack())
        (tmp_path / "redis").mkdir()
        server = own.enter_context(redis_server(tmp_path / "redis"))
        url = stack.enter_context(
            serve_processes(base, 1, BAWABA_RATE_LIMIT_STORAGE_URI=server.url(0))
        )
        assert httpx.get(url + RECORDS, timeout=30).status_code == 200
        own.close()  # Redis stops; the replica goes on
        refused = httpx.get(url + RECORDS, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "counters-unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        with redis_server(tmp_path / "redis", port=server.port):
            assert httpx.get(url + RECORDS, timeout=30).status_code == 200
