"""Size limits on what a client sends: the URL (414), the headers (431) and the body (413).

A request's URL and headers are parsed before the app sees anything, and the parser keeps
all of them in memory: a 40 MB header was read whole, on the event loop, before any code of
ours ran, and every other request on that worker waited. So the URL and header limits live
in the HTTP protocol itself (uvicorn's httptools one, with a byte count added), which stops
reading a request head as soon as it is over its limit. The body is the app's to read, so
its limit is an ASGI middleware that refuses a declared ``Content-Length`` over the limit
before reading a byte, and counts a streamed body as it arrives.

Every refusal is in the app's one error shape.
"""

from __future__ import annotations

import http
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bawaba.api.protocol import ProblemHttpToolsProtocol
from bawaba.serving.problems import ApiError, error_body, error_response


@dataclass(frozen=True)
class Limits:
    url_bytes: int
    header_bytes: int
    body_bytes: int


class TooLarge(ApiError):
    """A part of the request over its limit."""


def url_too_long(limits: Limits) -> TooLarge:
    return TooLarge(
        f"the URL is longer than {limits.url_bytes} bytes",
        hint="ask for less in one request (fewer filters or values), or download the "
        "dataset and filter it locally",
        slug="uri-too-long",
        status=414,
    )


def headers_too_large(limits: Limits) -> TooLarge:
    return TooLarge(
        f"the request's headers are larger than {limits.header_bytes} bytes",
        hint="send only the headers the API needs (a key, Accept, If-None-Match)",
        slug="headers-too-large",
        status=431,
    )


def body_too_large(limits: Limits) -> TooLarge:
    return TooLarge(
        f"the request's body is larger than {limits.body_bytes} bytes",
        hint="the API takes small form or JSON bodies only; page through large answers",
        slug="body-too-large",
        status=413,
        headers={"Connection": "close"},
    )


class _Refused(Exception):
    """Raised from a parser callback to stop reading a request head."""


class LimitedHttpToolsProtocol(ProblemHttpToolsProtocol):
    """uvicorn's httptools protocol (a malformed request answered in the one error shape),
    refusing a request head (URL and headers) over its
    limits as soon as it has read that much, instead of reading it whole first."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._reading_head = True
        self._head_bytes = 0
        self._completed = False
        self._refusal: TooLarge | None = None

    def data_received(self, data: bytes) -> None:
        self._completed = False
        super().data_received(data)
        if not self._reading_head or self._refusal is not None or self.transport.is_closing():
            return
        # A chunk that ended one request holds an unknown share of the next one's head: it
        # is not counted, so a refusal is never early (at worst one read late).
        if not self._completed:
            self._head_bytes += len(data)
        if self._head_bytes > self.limits.url_bytes + self.limits.header_bytes:
            too_long = len(self.url) > self.limits.url_bytes
            self._refuse(url_too_long(self.limits) if too_long else headers_too_large(self.limits))

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.url_bytes:
            self._refusal = url_too_long(self.limits)
            raise _Refused

    def on_headers_complete(self) -> None:
        if sum(len(name) + len(value) for name, value in self.headers) > self.limits.header_bytes:
            self._refusal = headers_too_large(self.limits)
            raise _Refused
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._completed = True

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any parser failure here, ours (a callback raising) included;
        # any other is the one error shape's 400.
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    def _refuse(self, error: TooLarge) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an answer is being sent: no room for another
            return
        body = error_body(error.slug, error.message, error.hint)
        phrase = http.HTTPStatus(error.status).phrase
        head = (
            f"HTTP/1.1 {error.status} {phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


class BodyLimit:
    """Refuses a request body over ``limits.body_bytes`` with a 413, without reading it
    when its ``Content-Length`` says so, and as soon as a streamed one passes the limit."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limits.body_bytes:
            await error_response(body_too_large(self.limits))(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.body_bytes:
                    raise body_too_large(self.limits)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except TooLarge as error:
            if started:
                raise
            await error_response(error)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
