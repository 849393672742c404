"""The HTTP connector against a real, misbehaving export API on loopback."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import orjson
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bawaba.ingest.connectors import RetryPolicy, SourceUnavailable, pull_http
from bawaba.ingest.declarations import HttpExport
from bawaba.loopback import serve_in_thread
from bawaba.simulator.server import Faults, create_app

PATIENT = RetryPolicy(timeout_s=0.5, max_retries=60, backoff_s=0.0)


def _department_store(root: Path, sequences: list[int]) -> Path:
    store = root / "systems"
    (store / "DLD").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "record_id": sequences,
            "reference": [f"DLD-{s}" for s in sequences],
            "timestamp": ["2013-01-01T00:00:00+04:00"] * len(sequences),
        },
        schema={"record_id": pl.Int64, "reference": pl.String, "timestamp": pl.String},
    ).write_parquet(store / "DLD" / "records.parquet")
    return store


def _landed(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [orjson.loads(line)["record_id"] for line in path.read_bytes().splitlines()]


@given(
    gaps=st.lists(st.integers(1, 5), max_size=120),
    page_size=st.integers(1, 40),
    start_at=st.integers(0, 130),
    error_rate=st.floats(0, 0.5),
    slow_rate=st.floats(0, 0.2),
    seed=st.integers(0, 2**16),
)
def test_pull_loses_and_duplicates_nothing_under_faults(
    tmp_path_factory: pytest.TempPathFactory,
    gaps: list[int],
    page_size: int,
    start_at: int,
    error_rate: float,
    slow_rate: float,
    seed: int,
) -> None:
    root = tmp_path_factory.mktemp("http")
    sequences = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    store = _department_store(root, sequences)
    # Slow answers outlast the client's time-out, so they exercise the time-out path too.
    faults = Faults(error_rate=error_rate, slow_rate=slow_rate, slow_s=0.6, seed=seed)
    with serve_in_thread(create_app(store, faults=faults)) as url:
        pulled = pull_http(
            HttpExport("/departments/DLD/records", page_size=page_size),
            base_url=url,
            watermark=start_at,
            target=root / "pull.jsonl",
            policy=PATIENT,
        )
    expected = [s for s in sequences if s > start_at]
    assert _landed(root / "pull.jsonl") == expected
    assert pulled.watermark == (expected[-1] if expected else start_at)
    assert pulled.files == ([root / "pull.jsonl"] if expected else [])


def test_a_source_that_stays_down_is_a_clear_error(tmp_path: Path) -> None:
    store = _department_store(tmp_path, [1, 2, 3])
    always_down = Faults(error_rate=1.0)
    policy = RetryPolicy(timeout_s=1, max_retries=2, backoff_s=0.0)
    with (
        serve_in_thread(create_app(store, faults=always_down)) as url,
        pytest.raises(
            SourceUnavailable, match=r"/departments/DLD/records failed 3 times, last with HTTP 503"
        ),
    ):
        pull_http(
            HttpExport("/departments/DLD/records"),
            base_url=url,
            watermark=0,
            target=tmp_path / "pull.jsonl",
            policy=policy,
        )


def test_a_rerun_from_the_watermark_pulls_nothing(tmp_path: Path) -> None:
    store = _department_store(tmp_path, [3, 7, 9])
    with serve_in_thread(create_app(store)) as url:
        source = HttpExport("/departments/DLD/records", page_size=2)
        first = pull_http(
            source, base_url=url, watermark=0, target=tmp_path / "a.jsonl", policy=PATIENT
        )
        again = pull_http(
            source,
            base_url=url,
            watermark=first.watermark or 0,
            target=tmp_path / "b.jsonl",
            policy=PATIENT,
        )
    assert first.watermark == 9
    assert again.files == []
    assert again.watermark == 9
    assert not (tmp_path / "b.jsonl").exists()


def test_a_pulled_page_is_not_kept_in_memory_once_landed(tmp_path: Path) -> None:
    """httpx keeps every response in a reference cycle until Python's cycle collector runs,
    which an export of thousands of pages outpaces: no page's body may stay with it."""
    store = _department_store(tmp_path, list(range(1, 2001)))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with serve_in_thread(create_app(store)) as url:
            pull_http(
                HttpExport("/departments/DLD/records", page_size=500),
                base_url=url,
                watermark=0,
                target=tmp_path / "pull.jsonl",
                policy=PATIENT,
            )
        gc.collect()
        responses = [o for o in gc.garbage if isinstance(o, httpx.Response)]
        assert responses  # the cycles are there: the test looks where pages would be
        kept = [r for r in responses if len(getattr(r, "_content", b"")) > 1000]
        assert kept == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(_landed(tmp_path / "pull.jsonl")) == 2000
