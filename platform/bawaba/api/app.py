"""The FastAPI application: ``create_app`` builds one from settings.

Nothing happens at import time; ``bawaba serve`` asks uvicorn for ``create_app()`` in every
worker process, and the tests build as many apps as they like, each over its own folders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from bawaba import __version__
from bawaba.api.cors import Cors
from bawaba.api.gatekeeper import Authenticator, Gatekeeper
from bawaba.api.http_limits import BodyLimit
from bawaba.api.limits import RateLimits, parse_limits
from bawaba.api.oauth import TokenServer
from bawaba.api.oauth import router as oauth_router
from bawaba.api.openapi import install_contract
from bawaba.api.routes import analytics as analytics_routes
from bawaba.api.routes import catalog as catalog_routes
from bawaba.api.routes import changes as changes_routes
from bawaba.api.routes import data as data_routes
from bawaba.api.routes import me as me_routes
from bawaba.api.routes import ops as ops_routes
from bawaba.api.server import request_limits
from bawaba.catalog.load import load_catalog
from bawaba.core.counters import open_counter
from bawaba.core.release_storage import open_storage
from bawaba.ecosystem import datapackage, dcat_ap, dcat_us
from bawaba.ecosystem.ckan import routes as ckan_routes
from bawaba.ecosystem.ckan.gateway import CkanGateway
from bawaba.keys.backends import open_key_store, open_meter, open_quotas, open_signing_keys
from bawaba.keys.plans import load_plans
from bawaba.keys.tokens import TokenIssuer
from bawaba.portal import routes as portal_routes
from bawaba.portal.pages import static_files
from bawaba.serving.caching import AnswerCache
from bawaba.serving.downloads import Downloads
from bawaba.serving.engine import Engine
from bawaba.serving.library import Library
from bawaba.serving.metrics import Metrics, MetricsMiddleware
from bawaba.serving.problems import install_error_handlers
from bawaba.serving.state import Services
from bawaba.settings import Settings, get_settings

DESCRIPTION = """
Open statistics on government e-payments and e-services in Dubai, published by Bawaba.

* **Open tier**: free, no key. JSON records and aggregates, CSV/JSON/Parquet downloads.
* **Premium tier**: finer-grained datasets for businesses, with an API key.

Every data answer carries an `ETag` (the dataset version and the query) and honours
`If-None-Match`. Errors are always `{"error": {"code", "message", "hint"}}`.
"""

ROUTERS: tuple[APIRouter, ...] = (
    catalog_routes.router,
    data_routes.router,
    changes_routes.router,
    me_routes.router,
    analytics_routes.router,
    oauth_router,
    ops_routes.router,
    ckan_routes.router,
    datapackage.router,
    dcat_us.router,
    dcat_ap.router,
    portal_routes.router,
)
"""Every router of the app: the tests walk these to prove each route's access rules."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    catalog = load_catalog(settings.catalog_path)
    open_limits = parse_limits(settings.open_rate_limit, "BAWABA_OPEN_RATE_LIMIT")
    failed_auth_limits = parse_limits(settings.failed_auth_limit, "BAWABA_FAILED_AUTH_LIMIT")
    plans = load_plans(settings.plans_path, catalog)
    keys = open_key_store(settings)
    tokens = TokenIssuer(open_signing_keys(settings, keys), settings.token_lifetime_s)
    quotas = open_quotas(settings, keys)
    meter = open_meter(settings, keys, quotas)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = open_storage(settings)
        engine = Engine(
            threads=settings.duckdb_threads,
            memory_limit=settings.duckdb_memory_limit,
            deadline_s=settings.query_deadline_s,
            resident_bytes=settings.resident_mb * 1024 * 1024,
            observe=metrics.observe_query,
            prepare=storage.prepare_duckdb,
        )
        app.state.services = Services(
            settings=settings,
            library=Library(catalog, storage),
            engine=engine,
            answers=AnswerCache(settings.response_cache_mb * 1024 * 1024),
            downloads=Downloads(
                settings.cache_dir / "downloads", settings.download_cache_mb * 1024 * 1024, engine
            ),
            metrics=metrics,
            keys=keys,
            plans=plans,
            meter=meter,
            quotas=quotas,
        )
        app.state.token_server = TokenServer(keys, tokens, plans)
        meter.start()
        try:
            yield
        finally:
            meter.stop()
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
    for router in ROUTERS:
        app.include_router(router)
    install_contract(app, catalog)

    # The HTML portal's assets; its pages are among ROUTERS.
    app.mount("/static", static_files(), name="static")

    # Outermost last: metrics see every answer, and refusals carry CORS headers too.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=("application/vnd.apache.parquet", "text/event-stream"),
    )
    app.add_middleware(
        Gatekeeper,
        authenticate=Authenticator(keys, tokens, plans),
        limits=RateLimits(open_counter(settings.rate_limit_storage_uri, settings.var_dir)),
        anonymous_limits=open_limits,
        failed_auth_limits=failed_auth_limits,
        meter=meter,
        quotas=quotas,
        on_refusal=lambda caller: metrics.rate_limited.labels(caller.policy).inc(),
    )
    # Before any credential is looked at, and inside the CKAN gateway for its envelope.
    app.add_middleware(BodyLimit, limits=request_limits(settings))
    # Outside the gatekeeper: CKAN clients' keys reach it as X-API-Key, and its refusals
    # leave the CKAN paths in CKAN's envelope.
    app.add_middleware(CkanGateway)
    app.add_middleware(
        Cors,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
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
