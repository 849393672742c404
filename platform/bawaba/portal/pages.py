"""Rendering a portal page: the language, the templates, links that keep the page's state,
and the headers every page carries.

The Jinja2 environment is built on first use and kept for the process (templates ship in
the package and never change while it runs); nothing happens at import time.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from bawaba.portal.i18n import (
    COOKIE,
    COOKIE_MAX_AGE,
    FREQUENCIES,
    GRAINS,
    Translator,
    choose_language,
)
from bawaba.serving.problems import ApiError
from bawaba.serving.state import services

# Pages hold no inline script or style, so the policy can forbid both; the SVG charts are
# markup styled from portal.css.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bawaba.portal", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(GRAINS=GRAINS, FREQUENCIES=FREQUENCIES)
    return env


class CachedStatic(StaticFiles):
    """The portal's CSS, script and fonts: they change only with a release of the package,
    so browsers may keep them for a day (and revalidate by ETag after)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def static_files() -> StaticFiles:
    return CachedStatic(packages=[("bawaba.portal", "static")])


class View:
    """One page being answered: started when the handler starts, so the Server-Timing
    header covers the data reads as well as the template."""

    def __init__(self, request: Request, nav: str) -> None:
        self.started = time.perf_counter()
        self.request = request
        self.nav = nav
        self.choice = choose_language(request)
        self.t = Translator(self.choice.lang)

    @property
    def base(self) -> str:
        return str(self.request.base_url).rstrip("/")

    def url(self, **changes: object) -> str:
        """This page's path and query with ``changes`` (None drops a parameter). ``lang``
        is left out: the cookie remembers it."""
        params = {k: v for k, v in self.request.query_params.items() if k != "lang"}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        query = urlencode(params)
        return f"{self.request.url.path}?{query}" if query else self.request.url.path

    def switch_url(self) -> str:
        """This page in the other language (``?lang=`` also sets the cookie)."""
        params = {k: v for k, v in self.request.query_params.items() if k != "lang"}
        params["lang"] = self.t.other
        return f"{self.request.url.path}?{urlencode(params)}"

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = (
            environment()
            .get_template(template)
            .render(
                t=self.t,
                view=self,
                nav=self.nav,
                catalog=services(self.request).library.catalog,
                **context,
            )
        )
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        response = HTMLResponse(
            html,
            status_code=status,
            headers={
                **SECURITY_HEADERS,
                "Content-Language": self.t.lang,
                "Vary": "Cookie, Accept-Language",
                "Cache-Control": "no-cache",
                "Server-Timing": f"render;dur={elapsed_ms:.1f}",
            },
        )
        if self.choice.remember:
            response.set_cookie(
                COOKIE, self.t.lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax"
            )
        return response

    def error(self, error: ApiError) -> HTMLResponse:
        """An API error (unknown dataset, bad parameter) as a page with the same status."""
        return self.render(
            "error.html",
            status=error.status,
            title=self.t("error_title"),
            message=error.message,
            hint=error.hint,
        )
