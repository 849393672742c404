"""The departments' HTTP export API (``bawaba simulate serve``).

Pages through each HTTP department's record store by sequence number, as a real export API
would, and misbehaves on purpose when asked: a share of requests answer 503, a share are
slow. Pipelines must lose and duplicate nothing through all of that.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

import polars as pl
from fastapi import FastAPI, HTTPException, Query, Response

RECORDS = "records.parquet"
SEQUENCE = "record_id"
TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Faults:
    """Misbehaviour on purpose: the share of requests that fail (503) or are slow."""

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 0.5
    seed: int = 0


def create_app(
    systems_dir: Path, *, faults: Faults | None = None, visible_until: str | None = None
) -> FastAPI:
    """The export API over ``systems_dir/<DEPT>/records.parquet``.

    ``visible_until`` (an ISO date) hides records at or after it, to stand for a department
    whose later records do not exist yet.
    """
    faults = faults or Faults()
    chance = random.Random(faults.seed)
    app = FastAPI(title="Simulated department export APIs")

    @cache
    def records(department: str) -> pl.DataFrame:
        path = systems_dir / department / RECORDS
        if not path.is_file():
            raise HTTPException(404, f"no export API for department {department!r}")
        frame = pl.read_parquet(path)
        if visible_until is not None:
            frame = frame.filter(pl.col(TIMESTAMP) < visible_until)
        return frame

    @app.get("/departments")
    def list_departments() -> list[str]:
        return sorted(p.parent.name for p in systems_dir.glob(f"*/{RECORDS}"))

    @app.get("/departments/{department}/records")
    async def read_records(
        department: str,
        after: Annotated[int, Query(ge=0, description="Last sequence already received.")] = 0,
        limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
    ) -> Response:
        draw = chance.random()
        if draw < faults.error_rate:
            return Response(
                '{"error": "temporarily unavailable"}',
                status_code=503,
                media_type="application/json",
            )
        if draw < faults.error_rate + faults.slow_rate:
            await asyncio.sleep(faults.slow_s)
        frame = records(department)
        start = int(frame[SEQUENCE].search_sorted(after, side="right"))
        page = frame.slice(start, limit)
        last = int(page[SEQUENCE][-1]) if page.height else after
        body = b'{"records":' + page.write_json().encode() + b',"next_after":'
        return Response(body + str(last).encode() + b"}", media_type="application/json")

    return app
