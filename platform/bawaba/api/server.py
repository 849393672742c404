"""How uvicorn serves the app: the request limits and the proxies it trusts.

``bawaba serve`` and the tests' servers both take these options, so a test of a limit or of
the proxy rule tests what an installation runs.
"""

from __future__ import annotations

import functools
from typing import Any

from bawaba.api.http_limits import LimitedHttpToolsProtocol, Limits
from bawaba.settings import Settings


def request_limits(settings: Settings) -> Limits:
    return Limits(
        url_bytes=settings.max_url_bytes,
        header_bytes=settings.max_header_bytes,
        body_bytes=settings.max_body_bytes,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options besides the app and the address. A partial of a module-level
    class, so a ``--workers`` server can hand it to its worker processes."""
    proxies = settings.proxies
    return {
        "http": functools.partial(LimitedHttpToolsProtocol, limits=request_limits(settings)),
        # uvicorn trusts 127.0.0.1 unless told otherwise; no proxy is trusted unless named.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else "",
    }
