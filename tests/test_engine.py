"""The API's DuckDB engine keeps small versions in memory within its budget, and answers
the same from a copy as from the file, before, during and after copies come and go."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bawaba.serving.engine import Engine
from bawaba.serving.query import PARQUET, Compiled

TOTAL = Compiled(f"SELECT count(*), sum(n) FROM {PARQUET} WHERE n >= ?", (10,))


def _parquet(path: Path, rows: int) -> Path:
    duckdb.sql(f"COPY (SELECT range AS n FROM range({rows})) TO '{path}' (FORMAT parquet)")
    return path


def _engine(resident_bytes: int) -> Engine:
    return Engine(threads=1, memory_limit="256MB", deadline_s=5, resident_bytes=resident_bytes)


def test_answers_are_the_same_from_a_copy_as_from_the_file(tmp_path: Path) -> None:
    files = [_parquet(tmp_path / f"{rows}.parquet", rows) for rows in (100, 5_000, 30_000)]
    from_files, from_copies = _engine(0), _engine(64 * 1024 * 1024)
    for path in files:
        expected = from_files.rows(path, TOTAL, "test")
        assert from_copies.rows(path, TOTAL, "test") == expected  # copies it
        assert from_copies.rows(path, TOTAL, "test") == expected  # reads the copy
        assert not from_files.quick(path)
    assert [from_copies.quick(path) for path in files] == [True, True, False]


def test_copies_stay_within_the_budget_and_the_dropped_are_read_again(tmp_path: Path) -> None:
    first, second = (_parquet(tmp_path / f"{name}.parquet", 1_000) for name in ("a", "b"))
    engine = _engine(first.stat().st_size + second.stat().st_size // 2)  # room for one
    expected = engine.rows(first, TOTAL, "test")
    assert engine.quick(first)
    assert engine.rows(second, TOTAL, "test") == expected  # same numbers, other file
    assert engine.quick(second)
    assert not engine.quick(first), "dropped to make room"
    assert engine.rows(first, TOTAL, "test") == expected


def test_a_file_gone_is_an_error_not_a_stale_answer(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "gone.parquet", 10)
    engine = _engine(0)
    path.unlink()
    with pytest.raises(duckdb.IOException):
        engine.rows(path, TOTAL, "test")
