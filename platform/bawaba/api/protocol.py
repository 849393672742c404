"""The HTTP protocol the API is served with: uvicorn's httptools parser, whose own answer
to a request it cannot parse leaves in the one error shape.

uvicorn answers a malformed request (a bad request line, a header that breaks the
grammar, a broken chunked body) itself, before the app sees anything, with a plain-text 400
that no middleware can reach; neither parser (httptools or h11) nor any setting changes its
shape. ``send_400_response`` is the one place both parsers write it, so this subclass
writes the JSON error instead. ``bawaba.api.http_limits`` builds on it; ``bawaba serve``
and the tests' live servers use that (``bawaba.api.server``).

It also sends what the app writes in one turn of the event loop as one write
(``OneWritePerTurn``): uvicorn writes an answer's status line and headers as soon as the
app starts it and the body when it comes, two system calls. A worker killed between the two
had sent a head without its body, which a proxy cannot retry on another replica (the head
is already the client's); a small answer now leaves whole or not at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bawaba.serving.problems import JSON, error_body


class OneWritePerTurn:
    """A connection's transport whose writes wait for the end of the event loop's turn and
    then leave as one. Everything else is the transport's own; closing sends what waits
    first."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._waiting: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._send)
        self._waiting.append(bytes(data))

    def _send(self) -> None:
        waiting, self._waiting = self._waiting, []
        if waiting and not self._transport.is_closing():
            self._transport.write(b"".join(waiting))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerTurn(transport))  # type: ignore[arg-type]

    def send_400_response(self, msg: str) -> None:
        body = error_body(
            "bad-request",
            f"the request is not valid HTTP/1.1: {msg}",
            "check the request line, the headers and any chunked body (RFC 9112)",
        )
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + JSON.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
