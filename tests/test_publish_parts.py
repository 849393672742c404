"""A publish builds the store a group of departments at a time (``BAWABA_PUBLISH_PART_ROWS``):
the release must not depend on how the rows were cut.

The same store is published twice through the CLI, once with every year's rows built at
once and once one department at a time, then both take the next month and publish again
(an incremental release, which reuses the closed years and carries each payer's first
quarter across years). Every published file must be the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from bawaba.fsutil import atomic_path
from bawaba.ingest.store import read_state
from bawaba.publish import partitions, periods
from bawaba.settings import Settings
from conftest import ROOT, random_key
from test_publish import bawaba

pytestmark = pytest.mark.xdist_group("publish-parts")

DEPARTMENTS = ("RTA", "DEWA", "DM", "DED", "DP")
ALL_AT_ONCE = 10**9


def _published(settings: Settings) -> dict[str, str]:
    """Each dataset's current data and disclosure report, by digest."""
    current = orjson.loads((settings.datasets_dir / "current.json").read_bytes())
    digests = {}
    for dataset, version in current["datasets"].items():
        folder = settings.datasets_dir / dataset / version
        for name in ("data.parquet", "disclosure.json"):
            path = folder / name
            if path.exists():
                body = path.read_bytes()
                if name == "disclosure.json":
                    report = orjson.loads(body)
                    report.pop("version")
                    if report["audit"] is not None:
                        del report["audit"]["release"], report["audit"]["released_on"]
                    body = orjson.dumps(report, option=orjson.OPT_SORT_KEYS)
                digests[f"{dataset}/{name}"] = hashlib.sha256(body).hexdigest()
    return digests


def _cycle(settings: Settings, month: str) -> None:
    chosen = [arg for d in DEPARTMENTS for arg in ("--department", d)]
    bawaba(settings, "simulate", "--through", month, *chosen)
    bawaba(settings, "pipelines", "run", *DEPARTMENTS)


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """Per cut (all at once, a department at a time): what each of two releases published."""
    root: Path = tmp_path_factory.mktemp("parts")
    first = Settings(
        var_dir=root / "input" / "var",
        datasets_dir=root / "input" / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.03,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    _cycle(first, "2013-02")
    # The premise: the store has several departments, so one row a part cuts it up.
    counts = periods.count(first, read_state(first), keep=False)
    assert len(partitions.department_groups(counts, 1)) == len(DEPARTMENTS)
    published: dict[str, list[dict[str, str]]] = {}
    for label, rows in (("whole", ALL_AT_ONCE), ("by department", 1)):
        settings = first.model_copy(
            update={
                "var_dir": root / label / "var",
                "datasets_dir": root / label / "datasets",
                "publish_part_rows": rows,
            }
        )
        shutil.copytree(first.var_dir, settings.var_dir, symlinks=True)
        bawaba(settings, "publish")
        once = _published(settings)
        _cycle(settings, "2013-03")
        bawaba(settings, "publish")
        published[label] = [once, _published(settings)]
    return published


def test_a_release_is_the_same_however_the_store_is_cut(
    releases: dict[str, list[dict[str, str]]],
) -> None:
    whole, by_department = releases["whole"], releases["by department"]
    assert len(whole[0]) > 20  # every dataset's data and disclosure report
    assert by_department[0] == whole[0]


def test_an_incremental_release_is_the_same_however_the_store_is_cut(
    releases: dict[str, list[dict[str, str]]],
) -> None:
    whole, by_department = releases["whole"], releases["by department"]
    assert whole[1] != whole[0]  # the next month was published
    assert by_department[1] == whole[1]


def test_what_a_publish_kept_reads_whole_while_another_publisher_replaces_it(
    tmp_path: Path,
) -> None:
    """Publishers on object storage take no lock, so one may replace the kept counts
    (atomically) while another reads them: each read is one of the two files, never the
    footer of one and the data of the other."""
    path = tmp_path / "periods.parquet"
    frames = [
        pl.DataFrame({"part": [f"{name}{i}" for i in range(size)], "rows": list(range(size))})
        for name, size in (("a", 3000), ("b", 40))
    ]
    with atomic_path(path) as temporary:
        frames[0].write_parquet(temporary)
    stop = threading.Event()

    def replace() -> None:
        turn = 0
        while not stop.is_set():
            with atomic_path(path) as temporary:
                frames[turn % 2].write_parquet(temporary)
            turn += 1

    replacing = threading.Thread(target=replace)
    replacing.start()
    seen = set()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            kept = periods.read_kept(path)
            assert kept is not None
            seen.add(next(i for i, f in enumerate(frames) if kept.equals(f)))
    finally:
        stop.set()
        replacing.join()
    assert seen == {0, 1}
    assert periods.read_kept(tmp_path / "none.parquet") is None
