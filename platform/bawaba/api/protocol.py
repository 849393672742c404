"""The HTTP protocol the API is served with: uvicorn's httptools parser, whose own answer
to a request it cannot parse leaves in the one error shape.

uvicorn answers a malformed request (a bad request line, a header that breaks the
grammar, a broken chunked body) itself, before the app sees anything, with a plain-text 400
that no middleware can reach; neither parser (httptools or h11) nor any setting changes its
shape. ``send_400_response`` is the one place both parsers write it, so this subclass
writes the JSON error instead. ``bawaba.api.http_limits`` builds on it; ``bawaba serve``
and the tests' live servers use that (``bawaba.api.server``).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bawaba.serving.problems import JSON, error_body


class ProblemHttpToolsProtocol(HttpToolsProtocol):
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
