"""The services one app instance holds, built at startup and reached from a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

from bawaba.api.caching import AnswerCache
from bawaba.api.downloads import Downloads
from bawaba.api.engine import Engine
from bawaba.api.library import Library
from bawaba.api.metrics import Metrics
from bawaba.core.key_store import KeyStore
from bawaba.keys.plans import Plans
from bawaba.keys.quotas import QuotaCounter
from bawaba.keys.usage import Meter
from bawaba.settings import Settings

if TYPE_CHECKING:
    from bawaba.api.oauth import TokenServer


@dataclass
class Services:
    settings: Settings
    library: Library
    engine: Engine
    answers: AnswerCache
    downloads: Downloads
    metrics: Metrics
    keys: KeyStore
    plans: Plans
    meter: Meter
    quotas: QuotaCounter
    token_server: TokenServer


def services(request: Request) -> Services:
    return cast(Services, request.app.state.services)
