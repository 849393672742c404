"""What counting costs per request with the counters in memory, in LMDB, in SQLite or in Redis.

Reproduce with::

    .venv/bin/python bench/counters.py                  # about half a minute
    .venv/bin/python bench/counters.py --calls 20000 --rounds 7
    .venv/bin/python bench/counters.py --api 3000     # and a real server's CPU a request

In one process, against a throwaway redis-server on loopback (tests/cluster/services.py
starts Debian's, as the tests do, nothing persisted) and LMDB and SQLite files in a temporary
folder (rate limits count in LMDB, a key's quotas in the key store's SQLite):

* a rate-limit check: ``RateLimits.check`` of an anonymous caller with two windows (as
  the shipped ``120/minute;3000/hour``, but too large to fill), what every request pays;
* a keyed request's quota and usage: what the gatekeeper and a records page add for a key
  with request and row quotas: admit the request, take the page's rows, give back the ones
  not answered, meter the request (with Redis, into Redis as well as into memory).

Each figure is the median over rounds of one call's wall time (what a request waits) and
of its process CPU time (what it takes from the server's cores; Redis's own CPU is not
in it), in µs.

With ``--api N``: a real ``bawaba serve`` (one worker, over a small generated release) per
store answers N requests for one cached records page, sequentially over one keep-alive
connection, anonymous and then with a key that has quotas; the figure is the server
process's CPU time (``/proc/<pid>/stat``) per request and the client's median wall time.
Figures go to stdout only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from limits import parse_many  # noqa: E402
from services import redis_server  # noqa: E402

from bawaba.api.limits import Caller, RateLimits  # noqa: E402
from bawaba.catalog.load import load_catalog  # noqa: E402
from bawaba.core.counters import open_counter  # noqa: E402
from bawaba.core.key_store import month_of  # noqa: E402
from bawaba.core.redis_client import connect  # noqa: E402
from bawaba.keys.quotas import QuotaCounter, SQLiteQuotas  # noqa: E402
from bawaba.keys.redis_quotas import RedisMeter, RedisQuotas  # noqa: E402
from bawaba.keys.store import KeyStore  # noqa: E402
from bawaba.keys.usage import Meter  # noqa: E402
from releases import write_release  # noqa: E402

SECRET = b"a-benchmark-secret-of-32-chars!!"


def per_call_us(action: Callable[[], object], calls: int, rounds: int) -> tuple[float, float]:
    """Median over rounds of one call's wall and CPU time, in µs."""
    for _ in range(min(calls, 200)):
        action()
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            action()
        wall.append((time.perf_counter() - started) / calls * 1e6)
        cpu.append((time.process_time() - started_cpu) / calls * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def rate_limit_check(uri: str, folder: Path) -> Callable[[], object]:
    limits = RateLimits(open_counter(uri, folder))
    # A window no benchmark fills: every call counts and is allowed, as most requests are.
    windows = list(parse_many("1000000000/minute;1000000000/hour"))
    caller = Caller("addr:192.0.2.1", "anonymous", windows)
    return lambda: limits.check(caller)


def keyed_request(quotas: QuotaCounter, meter: Meter, key_id: str) -> Callable[[], object]:
    month = month_of(datetime.now(UTC))
    big = 10**15

    def request() -> None:
        assert quotas.admit(key_id, month, big, big) is None
        granted = quotas.take_rows(key_id, month, big, 100, whole=False)
        quotas.add_rows(key_id, month, 60 - granted)  # a page of 60 rows of the 100 asked
        meter.done(key_id, month, "epay-annual", 60, 4_000)

    return request


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_per_request(uri: str, folder: Path, requests: int) -> list[tuple[str, float, float]]:
    """A real server's CPU µs a request and the client's median wall µs, anonymous and
    keyed, with its counters at ``uri``."""
    var = folder / f"var-{uri.split(':')[0]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")} | {
        "BAWABA_VAR_DIR": str(var),
        "BAWABA_DATASETS_DIR": str(folder / "datasets"),
        "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
        "BAWABA_PLANS_PATH": str(ROOT / "api_keys" / "plans.yaml"),
        "BAWABA_KEY_STORE_PATH": str(var / "keys.sqlite"),
        "BAWABA_KEY_STORE_SECRET": SECRET.decode(),
        "BAWABA_OPEN_RATE_LIMIT": "1000000000/minute;1000000000/hour",
        "BAWABA_RATE_LIMIT_STORAGE_URI": uri,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bawaba.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("bawaba serve did not start") from None
                time.sleep(0.2)
        key = KeyStore(var / "keys.sqlite", SECRET).create("Benchmark", "developer", None)[1]
        found = []
        for who, headers in (("anonymous", {}), ("keyed", {"X-API-Key": key})):
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                path = "/api/v1/datasets/epay-annual/records?limit=20"
                for _ in range(200):
                    client.get(path).raise_for_status()
                walls = []
                started = _cpu_s(server.pid)
                for _ in range(requests):
                    begun = time.perf_counter()
                    client.get(path)
                    walls.append(time.perf_counter() - begun)
                cpu = (_cpu_s(server.pid) - started) / requests * 1e6
            found.append((who, cpu, statistics.median(walls) * 1e6))
        return found
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--api", type=int, default=0, help="requests to a real server")
    args = parser.parse_args()
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis:
        folder = Path(tmp)
        url = redis.url(0)
        for name, uri in (("memory", "memory://"), ("lmdb", "lmdb://"), ("redis", url)):
            wall, cpu = per_call_us(rate_limit_check(uri, folder), args.calls, args.rounds)
            rows.append(("rate-limit check", name, wall, cpu))

        store = KeyStore(folder / "keys.sqlite", SECRET)
        key_id = store.create("Benchmark", "business", None)[0].id
        sqlite_meter = Meter(store, flush_s=3600)
        sqlite = keyed_request(SQLiteQuotas(store.path), sqlite_meter, key_id)
        wall, cpu = per_call_us(sqlite, args.calls, args.rounds)
        rows.append(("keyed quota + usage", "sqlite", wall, cpu))
        counts = RedisQuotas(connect(url), store)
        redis_meter = RedisMeter(store, flush_s=3600, counts=counts)
        wall, cpu = per_call_us(keyed_request(counts, redis_meter, key_id), args.calls, args.rounds)
        rows.append(("keyed quota + usage", "redis", wall, cpu))

        served: list[tuple[str, str, float, float]] = []
        if args.api:
            write_release(folder / "datasets", load_catalog(ROOT / "catalog.yaml"), seed=3)
            for name, uri in (("memory", "memory://"), ("lmdb", "lmdb://"), ("redis", url)):
                for who, cpu, wall in api_per_request(uri, folder, args.api):
                    served.append((f"API request, {who}", name, wall, cpu))

    print(f"# bench/counters.py --calls {args.calls} --rounds {args.rounds} --api {args.api}")
    print(f"{'what':<22} {'store':<8} {'wall µs':>9} {'CPU µs':>8}")
    for what, name, wall, cpu in rows + served:
        print(f"{what:<22} {name:<8} {wall:>9.1f} {cpu:>8.1f}")


if __name__ == "__main__":
    main()
