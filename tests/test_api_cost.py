"""The cost bound of a query: a query over it is refused with a 400 naming the bound, and
no request within it can hold up the others (a live server, timed against itself)."""

from __future__ import annotations

import inspect
import statistics
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from bawaba.api.app import ROUTERS
from bawaba.api.routes.analytics import analytics_caller
from bawaba.catalog.load import load_catalog
from bawaba.serving.deps import readable_dataset
from bawaba.serving.query import MAX_FILTER_VALUES, MAX_FILTERS, MAX_IN_VALUES
from conftest import api_settings, serve_processes
from releases import write_release

API = "/api/v1/datasets"
OPEN = "epay-annual"
CACHED = f"{API}/{OPEN}/records?limit=5&order=-year"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = api_settings(tmp_path_factory.mktemp("cost"))
    # Large enough that a scan costs something, small enough for the in-memory quick path.
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), rows=3000)
    # In a process of its own: the clients' work here would otherwise slow the server too.
    with serve_processes(settings, 1) as url:
        yield url


def _median_ms(client: httpx.Client, path: str, times: int = 40) -> float:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def test_queries_over_the_bound_are_refused_naming_it(server: str) -> None:
    too_many_filters = [("department__contains", "a")] * (MAX_FILTERS + 1)
    values = ",".join(["a"] * MAX_IN_VALUES)
    too_many_values = [("department__in", values)] * (MAX_FILTER_VALUES // MAX_IN_VALUES + 1)
    with httpx.Client(base_url=server, timeout=30) as client:
        for params, named in (
            (too_many_filters, f"{MAX_FILTERS + 1} filters, and the limit is {MAX_FILTERS}"),
            (too_many_values, f"filter values in all, and the limit is {MAX_FILTER_VALUES:,}"),
        ):
            for path in ("records", "aggregate", "download.csv"):
                answer = client.get(f"{API}/{OPEN}/{path}", params=params)
                assert answer.status_code == 400, path
                error = answer.json()["error"]
                assert error["code"] == "query-too-costly"
                assert named in error["message"]
        # As many as fit in the longest URL the server reads (a longer one is a 414).
        hostile = client.get(f"{API}/{OPEN}/records", params=[("department__contains", "a")] * 600)
        assert hostile.status_code == 400
        assert "600 filters" in hostile.json()["error"]["message"]
        within = client.get(f"{API}/{OPEN}/records", params=too_many_filters[1:])
        assert within.status_code == 200


def test_costly_requests_do_not_hold_up_a_cached_page(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        client.get(CACHED)
        baseline = _median_ms(client, CACHED)
        stop = threading.Event()
        sent = [0, 0]

        # Encoded once: the clients' own work is not what is measured.
        values = ",".join(f"D{i}" for i in range(MAX_FILTER_VALUES // (MAX_FILTERS - 2)))
        queries = [
            # The request of the review: 2,450 text matches.
            urlencode([("department__contains", "a")] * 2450),
            # The costliest within the bound.
            urlencode(
                [("department__in", values)] * (MAX_FILTERS - 2)
                + [("department__contains", "a"), ("department__contains", "e")]
            ),
        ]

        def hostile(which: int) -> None:
            with httpx.Client(base_url=server, timeout=30) as own:
                while not stop.is_set():
                    sent[which] += 1
                    # A new query each time: never answered from the cache.
                    own.get(f"{API}/{OPEN}/records?{queries[which]}&limit={sent[which]}")

        attackers = [threading.Thread(target=hostile, args=(i,)) for i in (0, 1)]
        for attacker in attackers:
            attacker.start()
        try:
            while min(sent) < 2:
                time.sleep(0.01)
            during = _median_ms(client, CACHED)
        finally:
            stop.set()
            for attacker in attackers:
                attacker.join(timeout=60)
    assert during <= 20 * baseline, f"{during:.1f} ms under attack, {baseline:.1f} ms before"


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def test_no_route_waits_for_a_worker_thread_before_its_own_code() -> None:
    """FastAPI runs a plain function dependency in the thread pool: a cached answer would
    hop to a thread and back for each, and wait for a free thread behind slow queries."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert any(r.path.endswith("/{dataset_id}/records") for r in routes)
    called = {
        (route.path, sub.call)
        for route in routes
        for sub in _dependencies(route.dependant)
        if sub.call is not None
    }
    assert {call for _, call in called} >= {readable_dataset, analytics_caller}
    plain = {
        (path, call.__qualname__) for path, call in called if not inspect.iscoroutinefunction(call)
    }
    assert not plain
