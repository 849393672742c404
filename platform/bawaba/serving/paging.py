"""One page of rows, as /records and /changes answer it: the rows, their total and the
cursor to the next page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from bawaba.serving import cursors
from bawaba.serving.engine import Engine
from bawaba.serving.library import Published
from bawaba.serving.query import Compiled
from bawaba.serving.query_string import query_items


def page(
    request: Request,
    engine: Engine,
    published: Published,
    queries: tuple[Compiled, Compiled],
    kind: str,
    *,
    offset: int,
    page_size: int,
    query_id: str,
    dropped: Sequence[str],
) -> dict[str, Any]:
    """The page of ``queries`` (its rows, and their count) over ``published`` that starts
    at ``offset``; the ``next`` link repeats the request without ``dropped`` parameters."""
    rows_query, count_query = queries
    names, found = engine.rows(published.path, rows_query, kind)
    if 0 < len(found) < page_size:
        total = offset + len(found)  # the last page: no need to count
    else:
        counted = engine.scalar(published.path, count_query, "count")
        assert isinstance(counted, int)
        total = counted
    following = offset + len(found)
    next_cursor = (
        cursors.Cursor(published.version, following, query_id).encode()
        if following < total
        else None
    )
    next_url = None
    if next_cursor is not None:
        kept = [(k, v) for k, v in query_items(request) if k not in dropped]
        next_url = str(request.url.replace(query=urlencode([*kept, ("cursor", next_cursor)])))
    return {
        "columns": names,
        "rows": [dict(zip(names, row, strict=True)) for row in found],
        "total": total,
        "offset": offset,
        "limit": page_size,
        "next_cursor": next_cursor,
        "next": next_url,
    }
