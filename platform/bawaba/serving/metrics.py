"""Prometheus metrics of one API process: requests, latency, refusals and DuckDB time.

Each app has its own registry (no module-level state), served at ``/metrics`` in the text
exposition format. Routes are labelled by their template (``/api/v1/datasets/{dataset_id}``),
never by the raw path, so the label set stays small whatever callers send.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "bawaba_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bawaba_http_request_duration_seconds",
            "Time from request to the end of the answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "bawaba_rate_limited",
            "Requests refused by a rate limit, by policy.",
            ["policy"],
            registry=self.registry,
        )
        self.query_seconds = Histogram(
            "bawaba_duckdb_query_seconds",
            "DuckDB time per query, by kind (records, count, aggregate, download).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answer_cache = Counter(
            "bawaba_answer_cache",
            "Answers looked up in the in-memory cache, by outcome (hit or miss).",
            ["outcome"],
            registry=self.registry,
        )

    def observe_query(self, kind: str, seconds: float) -> None:
        self.query_seconds.labels(kind).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
