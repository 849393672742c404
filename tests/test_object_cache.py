"""The object cache under reads in any order: every read answers the object's bytes, the
folder stays within its budget (beyond it only by the copy just fetched), and an object is
fetched again only after it was pushed out."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bawaba.core.object_cache import ObjectCache

OBJECTS = {f"ds/v{n}/data.parquet": bytes([n]) * (n * 100) for n in range(1, 9)}


def on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@given(
    reads=st.lists(st.sampled_from(sorted(OBJECTS)), min_size=1, max_size=30),
    budget=st.integers(min_value=0, max_value=2_000),
)
def test_reads_answer_the_objects_within_the_budget(reads: list[str], budget: int) -> None:
    fetched: list[str] = []

    def fetch(key: str, target: Path) -> bool:
        fetched.append(key)
        target.write_bytes(OBJECTS[key])
        return True

    with tempfile.TemporaryDirectory() as folder:
        cache = ObjectCache(Path(folder), budget, fetch)
        for key in reads:
            path = cache.get(key)
            assert path is not None
            assert path.read_bytes() == OBJECTS[key]
            assert on_disk(Path(folder)) <= max(budget, len(OBJECTS[key]))
        if sum(len(OBJECTS[k]) for k in set(reads)) <= budget:
            assert sorted(fetched) == sorted(set(reads)), "each fetched once when all fit"


def test_a_missing_object_is_none_and_not_kept(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path, 1_000, lambda key, target: False)
    assert cache.get("ds/v1/changes.json") is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
