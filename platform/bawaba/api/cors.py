"""CORS for every path, with its preflight refusals in the one error shape.

Starlette answers a preflight it refuses (a method or header outside the policy) with a
plain-text 400; a browser only needs the status and the missing ``Access-Control-Allow-*``
headers, but a developer reading the answer gets the same JSON error as everywhere else.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from bawaba.serving.problems import ApiError, error_response


class Cors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-type", "content-length")
        }
        methods = ", ".join(sorted(self.allow_methods))
        return error_response(
            ApiError(
                f"the CORS preflight is refused: {bytes(answer.body).decode()}",
                hint=f"cross-origin requests may use the methods {methods}",
                slug="cors-refused",
                status=answer.status_code,
                headers=kept,
            )
        )
