"""Throughput through nginx with one and two API replicas, beside one replica asked directly.

Reproduce with::

    .venv/bin/python bench/cluster.py                          # 8 s per run, 3 rounds
    .venv/bin/python bench/cluster.py --duration 10 --rounds 5 --connections 32
    .venv/bin/python bench/cluster.py --limits lmdb            # counters in one LMDB file

Needs wrk, nginx, PostgreSQL and Redis (Debian's packages: ``make bench`` installs them)
and moto's S3 server (the dev extra).

The cluster is the one ``bawaba demo --cluster`` runs (``bawaba.cluster``), on loopback: a
generated release (tests/releases.py) on moto's S3 server, keys in PostgreSQL, rate
limits, quotas and usage in Redis (``--limits lmdb``: rate limits in one LMDB file,
quotas in PostgreSQL), two ``bawaba serve`` replicas (one worker each, each its own var/),
and two nginx instances from the same template: one in front of replica
A alone, one in front of A and B. wrk (1 thread, N connections) then runs each workload
against three targets: A directly, nginx -> A, nginx -> A + B, in rounds whose order rotates
(the machine's load drifts); a target's figure is its median over rounds.

Workloads, both one records page of an open dataset, the same URL every time (a warm answer
from the ETag answer cache, where the proxy's and the gate's share of the time is largest):

* ``anonymous``: rate limited per client address (one counter round trip a request),
  limit out of reach;
* ``X-API-Key``: a key on a plan whose limits are out of reach but whose monthly request
  quota is counted, shared by the replicas.

All of it, wrk and nginx included, shares the same 2 cores: a second replica can only help
as far as one replica leaves a core idle. Figures go to stdout only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from bawaba.catalog.load import load_catalog  # noqa: E402
from bawaba.cluster.nginx import nginx_proxy  # noqa: E402
from bawaba.cluster.postgres import postgres_server  # noqa: E402
from bawaba.cluster.redis import redis_server  # noqa: E402
from bawaba.cluster.replicas import Replica, Shared, replica  # noqa: E402
from bawaba.cluster.s3 import S3Endpoint, moto_s3  # noqa: E402
from bawaba.core import versions  # noqa: E402
from bawaba.core.s3_storage import Location, S3Storage  # noqa: E402
from bawaba.keys.postgres_store import PostgresKeyStore  # noqa: E402
from releases import write_release  # noqa: E402

BUCKET, PREFIX = "bench", "releases"
SECRET = "a-bench-store-secret-of-32-chars"  # noqa: S105 - a throwaway store's
PATH = "/api/v1/datasets/epay-monthly/records?limit=100&order=-amount_aed"
DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), summary.bytes, 0))
end
"""


@dataclass(frozen=True)
class Measured:
    target: str
    workload: str
    rps: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float


def _plans(folder: Path) -> Path:
    real = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    real["plans"]["bench"] = {
        **real["plans"]["business"],
        "rate_limits": "1000000000/minute",
        "monthly_requests": 1_000_000_000,
        "monthly_rows": None,
    }
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(real, allow_unicode=True), encoding="utf-8")
    return path


def _upload(local: Path, s3: S3Endpoint, folder: Path) -> None:
    """The release in ``local`` onto S3, through the S3 backend the publisher uses."""
    storage = S3Storage(
        s3.client(),
        Location(BUCKET, f"{PREFIX}/"),
        cache=folder / "upload-cache",
        cache_bytes=1 << 30,
        staging=folder / "upload-staging",
        pointer_ttl_s=0,
    )
    release = versions.read_release(local)
    assert release is not None
    with storage.publishing():
        for dataset, version in release.datasets.items():
            staged = storage.staging_dir() / dataset
            shutil.copytree(local / dataset / version, staged)
            storage.write_version(staged, dataset, version)
        storage.switch_pointer(release, storage.read_pointer())


@dataclass
class Bench:
    direct: Replica
    targets: dict[str, str]
    key: str


@contextmanager
def cluster(folder: Path, limits: str) -> Iterator[Bench]:
    catalog = load_catalog(ROOT / "catalog.yaml")
    write_release(folder / "release", catalog, seed=7)
    with ExitStack() as stack:
        s3 = stack.enter_context(moto_s3(folder))
        s3.create_bucket(BUCKET)
        _upload(folder / "release", s3, folder)
        pg = stack.enter_context(postgres_server())
        counters = (
            stack.enter_context(redis_server(folder)).url()
            if limits == "redis"
            else f"lmdb://{folder / 'rate-limits.lmdb'}"
        )
        shared = Shared(
            datasets_url=f"s3://{BUCKET}/{PREFIX}",
            key_store_url=pg.new_database("keys"),
            key_store_secret=SECRET,
            rate_limit_storage_uri=counters,
            extra=s3.env()
            | {
                "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
                "BAWABA_PLANS_PATH": str(_plans(folder)),
                "BAWABA_OPEN_RATE_LIMIT": "1000000000/minute",
            },
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")}
        a, b = (
            stack.enter_context(replica(shared.env(base, folder / f"var-{n}"), folder))
            for n in "ab"
        )
        one = stack.enter_context(nginx_proxy(folder / "nginx-1", [a.address]))
        two = stack.enter_context(nginx_proxy(folder / "nginx-2", [a.address, b.address]))
        keys = PostgresKeyStore(shared.key_store_url, SECRET.encode())
        try:
            _, key = keys.create("Bench", "bench", None)
        finally:
            keys.close()
        targets = {"replica A directly": a.url, "nginx -> A": one.url, "nginx -> A + B": two.url}
        yield Bench(a, targets, key)


def _check(bench: Bench) -> None:
    """Every target answers 200 with the same rows, anonymous and keyed, warming caches."""
    bodies = set()
    for url in (*bench.targets.values(), bench.targets["nginx -> A + B"]):
        for headers in ({}, {"X-API-Key": bench.key}):
            answer = httpx.get(url + PATH, headers=headers, timeout=30)
            if answer.status_code != 200:
                sys.exit(f"{url}{PATH} answered {answer.status_code}: {answer.text}")
            bodies.add(json.dumps(answer.json()["rows"]))
    if len(bodies) != 1:
        sys.exit("the targets answered different rows")


def run_wrk(url: str, headers: dict[str, str], args: argparse.Namespace) -> list[float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(f"wrk.path = {json.dumps(PATH)}\n" + DONE)
        lua.flush()
        command = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration:g}s"]
        command += ["--timeout", "10s", "-s", lua.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run(
            [*command, url], capture_output=True, text=True, check=False, timeout=120
        )
    found = re.search(r"^BENCH (.+)$", done.stdout, re.MULTILINE)
    if done.returncode or found is None:
        sys.exit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return [float(v) for v in found.group(1).split()]


def measure(bench: Bench, args: argparse.Namespace) -> list[Measured]:
    workloads = {"anonymous": {}, "X-API-Key": {"X-API-Key": bench.key}}
    runs: dict[tuple[str, str], list[list[float]]] = {}
    names = list(bench.targets)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for workload, headers in workloads.items():
            for target in order:
                figures = run_wrk(bench.targets[target], headers, args)
                runs.setdefault((target, workload), []).append(figures)
                print(
                    f"  round {round_ + 1} {workload:<10} {target:<20} "
                    f"{figures[0] / (figures[1] / 1e6):8.0f} req/s",
                    flush=True,
                )
    measured = []
    for (target, workload), figures in runs.items():
        rates = [f[0] / (f[1] / 1e6) for f in figures]
        median = statistics.median(rates)
        chosen = figures[rates.index(min(rates, key=lambda r: abs(r - median)))]
        measured.append(
            Measured(
                target,
                workload,
                median,
                int(sum(f[2] for f in figures)),
                int(sum(f[3] for f in figures)),
                chosen[4] / 1000,
                chosen[5] / 1000,
            )
        )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each pair")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--limits", choices=("redis", "lmdb"), default="redis", help="where replicas count"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `apt-get install -y wrk` (make bench does)")
    with (
        tempfile.TemporaryDirectory(prefix="bawaba-bench-cluster-") as tmp,
        cluster(Path(tmp), args.limits) as bench,
    ):
        _check(bench)
        measured = measure(bench, args)
    print(
        f"\ncluster throughput ({args.limits} counters), {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s, median of {args.rounds} rounds"
    )
    print(f"GET {PATH}")
    print(f"{'workload':<11} {'target':<20} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} errors")
    for m in sorted(measured, key=lambda m: (m.workload, list(bench.targets).index(m.target))):
        print(
            f"{m.workload:<11} {m.target:<20} {m.rps:8.0f} {m.p50_ms:7.1f} {m.p99_ms:7.1f} "
            f"{m.errors + m.non_2xx}"
        )
    print(
        "\nreproduce: .venv/bin/python bench/cluster.py "
        f"--duration {args.duration:g} --rounds {args.rounds} --connections {args.connections} "
        f"--limits {args.limits}"
    )


if __name__ == "__main__":
    main()
