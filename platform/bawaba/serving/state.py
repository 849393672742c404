"""The services one app instance holds, built at startup and reached from a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from bawaba.core.key_store import KeyStore
from bawaba.keys.plans import Plans
from bawaba.keys.quotas import QuotaCounter
from bawaba.keys.usage import Meter
from bawaba.serving.caching import AnswerCache
from bawaba.serving.downloads import Downloads
from bawaba.serving.engine import Engine
from bawaba.serving.library import Library
from bawaba.serving.metrics import Metrics
from bawaba.settings import Settings


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


def services(request: Request) -> Services:
    return cast(Services, request.app.state.services)
