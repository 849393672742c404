"""Reads from object storage against the local folder: cold and warm cache.

    .venv/bin/python bench/object_storage.py [--rows 2000000] [--repeat 20]

Writes a generated release (tests/releases.py: one large dataset and one small) to a local
folder, and the same bytes to moto's S3 server on loopback (tests/cluster/services.py)
through the S3 backend. Then times what a server does per request:

- resolving the current version and querying its Parquet with DuckDB (a full scan:
  ``count(*)`` and a hash of every column), from the local folder, from object storage
  with an empty cache (the first read fetches the object), and with the cache warm;
- the same query by DuckDB's httpfs straight from ``s3://`` (no local copy), first and
  repeated;
- re-reading the release pointer: a ``stat`` locally, a conditional GET (304) on S3.

moto is a Python server on the same 2 cores, so the cold figures are a worst case for
bandwidth and a best case for latency against a real S3 endpoint.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import duckdb_ext
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "cluster")]

from services import ObjectStore, moto_server  # noqa: E402

from bawaba.catalog.load import load_catalog  # noqa: E402
from bawaba.catalog.model import Catalog  # noqa: E402
from bawaba.core import versions  # noqa: E402
from bawaba.core.local_storage import LocalFolder  # noqa: E402
from bawaba.core.s3_storage import Location, S3Storage  # noqa: E402
from bawaba.serving.library import Library  # noqa: E402
from releases import table_for, write_release  # noqa: E402

BUCKET = "bawaba-bench"
LARGE, SMALL = "epay-daily", "epay-annual"
SCAN = "SELECT count(*), sum(hash(COLUMNS(*))) FROM read_parquet(?)"


def ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:8.2f}"


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        spent.append(time.perf_counter() - started)
    return spent


def s3_storage(store: ObjectStore, cache: Path, ttl: float) -> S3Storage:
    return S3Storage(
        store.client(),
        Location(BUCKET, "bench/"),
        cache=cache,
        cache_bytes=4 << 30,
        staging=cache.parent / "staging",
        pointer_ttl_s=ttl,
    )


def upload(local: Path, storage: S3Storage) -> None:
    release = versions.read_release(local)
    assert release is not None
    with storage.publishing():
        for dataset, version in release.datasets.items():
            staged = storage.staging_dir() / dataset
            shutil.copytree(local / dataset / version, staged)
            storage.write_version(staged, dataset, version)
        storage.switch_pointer(release, storage.read_pointer())


def large(catalog: Catalog, rows: int) -> pa.Table:
    """``rows`` rows of the large dataset: generated rows drawn again and again, with fresh
    random measures (the generator's distinct keys run out long before)."""
    dataset = catalog.dataset(LARGE)
    base = table_for(dataset, 2_000, seed=1)
    rng = np.random.default_rng(1)
    drawn = base.take(rng.integers(0, base.num_rows, rows))
    for field in dataset.by_role("measure"):
        if field.type == "integer":
            index = drawn.schema.get_field_index(field.name)
            values = pa.array(rng.integers(0, 50_000, rows), pa.int64())
            drawn = drawn.set_column(index, field.name, values)
    return drawn


def measure(
    dataset: str, catalog: Catalog, on_disk: Library, store: ObjectStore, work: Path, repeat: int
) -> list[str]:
    """Median ms: local, S3 cold, S3 warm, httpfs first, httpfs again."""
    duck = duckdb.connect()

    def query(library: Library) -> None:
        duck.execute(SCAN, [str(library.resolve(dataset).path)]).fetchall()

    query(on_disk)
    local = timed(lambda: query(on_disk), repeat)
    cold: list[float] = []
    for run in range(min(repeat, 5)):
        fresh = Library(catalog, s3_storage(store, work / f"cold-{dataset}-{run}", 60))
        cold += timed(lambda fresh=fresh: query(fresh), 1)
    warm_library = Library(catalog, s3_storage(store, work / f"warm-{dataset}", 60))
    query(warm_library)
    warm = timed(lambda: query(warm_library), repeat)
    remote = duckdb.connect(
        config={
            "extension_directory": str(Path(next(iter(duckdb_ext.__path__))) / "extensions"),
            "autoinstall_known_extensions": False,
        }
    )
    remote.execute("LOAD httpfs")
    remote.execute(
        "CREATE SECRET bench (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
        "URL_STYLE 'path', USE_SSL false)",
        [store.access_key, store.secret_key, store.region, store.endpoint.removeprefix("http://")],
    )
    url = f"s3://{BUCKET}/bench/{dataset}/v1/{versions.DATA}"
    first = timed(lambda: remote.execute(SCAN, [url]).fetchall(), 1)
    again = timed(lambda: remote.execute(SCAN, [url]).fetchall(), repeat)
    return [f"{ms(t):>9}" for t in (local, cold, warm)] + [f"{ms(first):>11}", f"{ms(again):>13}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "catalog.yaml")
    work = Path(tempfile.mkdtemp(prefix="bawaba-bench-s3-"))
    local = work / "datasets"
    write_release(local, catalog, seed=1, only=[LARGE], tables={LARGE: large(catalog, args.rows)})
    write_release(local, catalog, seed=1, rows=300, only=[SMALL])
    sizes = {d: (local / d / "v1" / versions.DATA).stat().st_size for d in (LARGE, SMALL)}
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    with moto_server(work) as store:
        store.client().create_bucket(Bucket=BUCKET)
        upload(local, s3_storage(store, work / "upload-cache", 0))
        on_disk = Library(catalog, LocalFolder(local))
        print(
            f"\n{'dataset':<12} {'MB':>6} {'local ms':>9} {'s3 cold':>9} {'s3 warm':>9} "
            f"{'httpfs 1st':>11} {'httpfs again':>13}"
        )
        for dataset in (LARGE, SMALL):
            figures = measure(dataset, catalog, on_disk, store, work, args.repeat)
            print(f"{dataset:<12} {sizes[dataset] / 1e6:6.2f} " + " ".join(figures))
        folder = LocalFolder(local)
        storage = s3_storage(store, work / "pointer-cache", 0)
        storage.current_release()
        stat, revalidate = timed(folder.current_release, 200), timed(storage.current_release, 200)
        print(f"\nrelease pointer re-read, median ms: local stat {ms(stat)}, ", end="")
        print(f"S3 conditional GET (304) {ms(revalidate)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
