"""The FastAPI application: ``create_app`` builds one from settings.

Nothing happens at import time; ``bawaba serve`` asks uvicorn for ``create_app()`` in every
worker process, and the tests build as many apps as they like, each over its own folders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from bawaba import __version__
from bawaba.api.caching import AnswerCache
from bawaba.api.downloads import Downloads
from bawaba.api.engine import Engine
from bawaba.api.library import Library
from bawaba.api.limits import RateLimitMiddleware, RateLimits, anonymous, parse_limits
from bawaba.api.metrics import Metrics, MetricsMiddleware
from bawaba.api.problems import install_error_handlers
from bawaba.api.routes import catalog as catalog_routes
from bawaba.api.routes import data as data_routes
from bawaba.api.routes import ops as ops_routes
from bawaba.api.state import Services
from bawaba.catalog.load import load_catalog
from bawaba.portal import routes as portal_routes
from bawaba.portal.pages import static_files
from bawaba.settings import Settings, get_settings

DESCRIPTION = """
Open statistics on government e-payments and e-services in Dubai, published by Bawaba.

* **Open tier**: free, no key. JSON records and aggregates, CSV/JSON/Parquet downloads.
* **Premium tier**: finer-grained datasets for businesses, with an API key.

Every data answer carries an `ETag` (the dataset version and the query) and honours
`If-None-Match`. Errors are always `{"error": {"code", "message", "hint"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    catalog = load_catalog(settings.catalog_path)
    open_limits = parse_limits(settings.open_rate_limit, "BAWABA_OPEN_RATE_LIMIT")
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(
            threads=settings.duckdb_threads,
            memory_limit=settings.duckdb_memory_limit,
            deadline_s=settings.query_deadline_s,
            observe=metrics.observe_query,
        )
        app.state.services = Services(
            settings=settings,
            library=Library(catalog, settings.datasets_dir),
            engine=engine,
            answers=AnswerCache(settings.response_cache_mb * 1024 * 1024),
            downloads=Downloads(
                settings.cache_dir / "downloads", settings.download_cache_mb * 1024 * 1024, engine
            ),
            metrics=metrics,
        )
        try:
            yield
        finally:
            engine.close()

    app = FastAPI(
        title="Bawaba API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(catalog_routes.router)
    app.include_router(data_routes.router)
    app.include_router(ops_routes.router)

    # The HTML portal: home, catalog, dataset pages and plans, over the same services.
    app.include_router(portal_routes.router)
    app.mount("/static", static_files(), name="static")

    # Outermost last: metrics see every answer, and refusals carry CORS headers too.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=("application/vnd.apache.parquet", "text/event-stream"),
    )
    app.add_middleware(
        RateLimitMiddleware,
        limits=RateLimits(settings.rate_limit_storage_uri),
        identify=anonymous(open_limits),
        on_refusal=lambda caller: metrics.rate_limited.labels(caller.policy).inc(),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=[
            "ETag",
            "RateLimit",
            "RateLimit-Policy",
            "Retry-After",
            "Content-Range",
            "X-Dataset-Version",
        ],
        max_age=86_400,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
