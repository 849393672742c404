"""Writes hand-made raw feeds in a department's export format, for tests.

Rows are given in canonical fields (``bawaba.ingest.contract.FIELDS``); the writer renames
them and encodes their coded values the way the pipeline's ``ExportFormat`` reads them, so a
test feed goes through the real reader, validator and sanitiser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson

from bawaba.ingest.declarations import ExportFormat


def render(fmt: ExportFormat, row: Mapping[str, object]) -> dict[str, object]:
    source_of = {canonical: source for source, canonical in fmt.columns.items()}
    rendered: dict[str, object] = {}
    for canonical, value in row.items():
        labels = {code: label for label, code in fmt.codes.get(canonical, {}).items()}
        rendered[source_of[canonical]] = (
            labels.get(value, value) if isinstance(value, str) else value
        )
    return rendered


def write_jsonl(path: Path, fmt: ExportFormat, rows: Iterable[Mapping[str, object]]) -> None:
    assert fmt.reader == "jsonl"
    assert fmt.amount == "fils"
    assert fmt.timestamp == "iso8601"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(render(fmt, row)) + b"\n")
