"""Reading a delivered file in pieces gives the rows of reading it whole (issue 13).

The ingest reads CSV and JSON lines a block of bytes at a time, cut at the last whole
record, so that memory does not grow with the file. Whatever the block size, the pieces
together are the file's rows, in order, each parsed as one read of the whole file parses
it: quoted line breaks, quotes, commas and a byte-order mark included.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from bawaba.ingest import read
from bawaba.ingest.declarations import ExportFormat

COLUMNS = ("a", "b", "c")
TEXT = st.text(alphabet=st.sampled_from('ab ,"\n\r\t;ب٧'), max_size=8)
ROWS = st.lists(st.tuples(TEXT, TEXT, TEXT), max_size=30)


def _format(reader: str) -> ExportFormat:
    return ExportFormat(
        reader=reader, columns={"a": "reference"}, timestamp="iso8601", amount="fils"
    )  # type: ignore[arg-type]


def _in_pieces(reader: str, path: Path, block: int) -> pl.DataFrame:
    pieces = list(read.pieces(_format(reader), path, rows=1, block_bytes=block))
    assert all(piece.file == path.name for piece in pieces)
    frames = [piece.rows for piece in pieces]
    return pl.concat(frames) if frames else pl.DataFrame()


@settings(max_examples=150, deadline=None)
@given(rows=ROWS, block=st.integers(1, 200), bom=st.booleans())
def test_a_csv_read_in_pieces_is_the_csv_read_whole(
    rows: list[tuple[str, str, str]], block: int, bom: bool, tmp_path_factory: object
) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([COLUMNS, *rows])
    path = Path(str(tmp_path_factory.mktemp("csv"))) / "feed.csv"  # type: ignore[attr-defined]
    path.write_text(text.getvalue(), encoding="utf-8-sig" if bom else "utf-8")
    whole = pl.read_csv(path, infer_schema=False)
    got = _in_pieces("csv", path, block)
    assert got.height == whole.height == len(rows)
    if rows:
        assert got.equals(whole)


@settings(max_examples=100, deadline=None)
@given(rows=ROWS, block=st.integers(1, 200), blank_lines=st.booleans())
def test_json_lines_read_in_pieces_are_the_file_read_whole(
    rows: list[tuple[str, str, str]], block: int, blank_lines: bool, tmp_path_factory: object
) -> None:
    path = Path(str(tmp_path_factory.mktemp("jsonl"))) / "feed.jsonl"  # type: ignore[attr-defined]
    lines = [orjson.dumps(dict(zip(COLUMNS, row, strict=True))) for row in rows]
    path.write_bytes(b"".join(line + (b"\n\n" if blank_lines else b"\n") for line in lines))
    got = _in_pieces("jsonl", path, block)
    assert got.height == len(rows)
    if rows:
        whole = pl.read_ndjson(path, schema=dict.fromkeys(COLUMNS, pl.String()))
        assert got.equals(whole)
