"""Reading the portal's HTML in tests without a browser: tables as rows of cell text.

Text inside ``.visually-hidden`` is skipped, so a cell reads as a sighted reader sees it.
"""

from __future__ import annotations

from html.parser import HTMLParser

_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Table(HTMLParser):
    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.depth = 0  # > 0 inside the wanted table
        self.hidden_depth = 0
        self.stack: list[str] = []
        self.head: list[str] = []
        self.rows: list[list[str]] = []
        self.section = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        self.stack.append(tag)
        if tag == "table" and self.css_class in classes and not self.depth:
            self.depth = len(self.stack)
        if not self.depth:
            return
        if self.hidden_depth or "visually-hidden" in classes:
            self.hidden_depth += 1
        if tag in ("thead", "tbody"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self.stack:
            return
        if self.depth and self.hidden_depth:
            self.hidden_depth -= 1
        if self.depth and tag in ("td", "th") and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            (self.head if self.section == "thead" else self.rows[-1]).append(text)
            self.cell = None
        if len(self.stack) == self.depth and tag == "table":
            self.depth = 0
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.depth and self.cell is not None and not self.hidden_depth:
            self.cell.append(data)


def table(html: str, css_class: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and body rows of the first ``<table class=css_class>``."""
    parser = _Table(css_class)
    parser.feed(html)
    return parser.head, parser.rows
