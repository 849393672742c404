"""Runs an ASGI app with uvicorn in a background thread, on a loopback port.

Used by ``bawaba demo`` to bring up the simulated departments' export API beside the
pipelines, and by the tests to talk to real servers over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 30.0,
    http: type[asyncio.Protocol] | None = None,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (port 0 picks a free one).
    ``http`` is uvicorn's protocol class (its default parser unless given)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", http=http or "auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on {host}:{port} did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
