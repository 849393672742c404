"""Bawaba's open API beside Datasette, over the same published dataset, under one load generator.

Reproduce with::

    make bench                     # every benchmark; this one runs last
    .venv/bin/python bench/api.py  # the largest open dataset of the demo release
    .venv/bin/python bench/api.py --datasets datasets --workers 1,2 --duration 10

The release is read from ``--datasets`` (a ``datasets/`` folder holding ``current.json``);
without one, the benchmark publishes its own with ``bawaba demo --scale S --no-serve`` into
``bench/out/api-demo`` (about 5 minutes at scale 1.0) and reuses it on later runs.

It picks the open dataset with the most rows, copies its Parquet into SQLite (typed
columns, the dataset's row key as primary key, an index on every dimension and one on the
records workload's filter and sort columns, ANALYZE: what a careful Datasette user would
do), and serves it twice on loopback with the same number of uvicorn worker processes:

* Bawaba: ``bawaba serve`` in a subprocess, rate limit raised out of the way.
* Datasette (pinned in constraints.txt): the same uvicorn, the database immutable,
  ``suggest_facets`` off (the JSON API does not need them) and the SQL time limit at
  Bawaba's query deadline.

wrk (Debian's package; ``make bench`` installs it) then runs each workload against each
server in turn: a filtered, sorted records page of 100 rows, an aggregate (group by the
dimensions, count and sums), and the whole dataset as CSV. Every workload runs twice:

* ``warm``: the same URL every time. Bawaba answers from its ETag answer cache (a product
  feature: versions never change, so a kept answer never goes stale); Datasette has no
  answer cache and queries SQLite every time.
* ``miss``: a filter value that changes on every request (a wrk Lua script), so each of
  Bawaba's answers is a cache miss that runs DuckDB (downloads: a DuckDB COPY to a new file).

The aim is judged on ``warm``, the workloads as the issue names them (one URL each, as any
load generator repeats it); ``miss`` is reported beside it, unjudged: the harder case.

Before any load, one request of each pair is checked to return the same rows. Last, on a
fresh one-worker server, an aggregate's end-to-end time (one client, sequential requests, a
new filter value each time, each checked in /metrics to be a cache miss) is set against
DuckDB running the same SQL in-process on the same Parquet file.

Figures go to stdout and to the "## API" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import io
import json
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## API"
DEMO_WORKDIR = ROOT / "bench" / "out" / "api-demo"
# The aims (issue 4): Bawaba at least 3x Datasette's requests/s on every workload (each its
# one URL) with zero errors, and an aggregate end to end within 1.5x of DuckDB running its SQL
# in-process.
AIM_RATIO, AIM_END_TO_END = 3.0, 1.5
DATASETTE_DB_ENV = "BENCH_DATASETTE_DB"
DATASETTE_SETTINGS = {"suggest_facets": False, "sql_time_limit_ms": 5000}
DB_NAME = "bench"


# ---------------------------------------------------------------------------------------
# The release and the dataset
# ---------------------------------------------------------------------------------------


def ensure_release(datasets: Path | None, scale: float, workdir: Path = DEMO_WORKDIR) -> Path:
    """A ``datasets/`` folder with a current release: ``datasets`` or the demo's own, which
    is published into ``workdir`` (a folder of bench/out/) and reused while its scale holds."""
    if datasets is not None:
        if not (datasets / "current.json").exists():
            sys.exit(f"no release in {datasets} (no current.json): run `bawaba demo --no-serve`")
        return datasets.resolve()
    folder = workdir / "datasets"
    marker = workdir / "scale"
    if (
        (folder / "current.json").exists()
        and marker.exists()
        and float(marker.read_text()) == scale
    ):
        print(f"reusing the release in {folder.relative_to(ROOT)} (scale {scale})")
        return folder
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    print(f"publishing a demo release at scale {scale} into {workdir.relative_to(ROOT)}")
    subprocess.run(
        [str(BIN / "bawaba"), "demo", "--scale", str(scale), "--no-serve"],
        env=_bawaba_env(workdir / "var", folder),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.write_text(str(scale))
    return folder


def _bawaba_env(var: Path, datasets: Path) -> dict[str, str]:
    return os.environ | {
        "BAWABA_VAR_DIR": str(var),
        "BAWABA_DATASETS_DIR": str(datasets),
        # The demo creates a key: into the benchmark's folder, not the checkout's key store.
        "BAWABA_KEY_STORE_PATH": str(var / "keys.sqlite"),
        "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
        "BAWABA_PIPELINES_DIR": str(ROOT / "pipelines"),
    }


@dataclass(frozen=True)
class Candidate:
    id: str
    version: str
    rows: int
    bytes: int
    path: Path


def open_datasets(datasets: Path) -> list[Candidate]:
    """The open datasets of the current release, largest first."""
    import pyarrow.parquet as pq

    from bawaba.catalog.load import load_catalog
    from bawaba.core.versions import read_release

    catalog = load_catalog(ROOT / "catalog.yaml")
    release = read_release(datasets)
    assert release is not None
    found = []
    for dataset in catalog.datasets:
        version = release.datasets.get(dataset.id)
        if dataset.tier != "open" or version is None:
            continue
        path = datasets / dataset.id / version / "data.parquet"
        rows = pq.ParquetFile(path).metadata.num_rows
        found.append(Candidate(dataset.id, version, rows, path.stat().st_size, path))
    return sorted(found, key=lambda c: c.rows, reverse=True)


@dataclass(frozen=True)
class Plan:
    """What the workloads ask of the dataset, from its catalog entry and its data."""

    dataset: str
    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    filter_column: str
    filter_value: str
    sort_column: str
    group_by: tuple[str, ...]
    sums: tuple[str, ...]
    threshold_high: int
    """The miss variants filter ``sort_column >= n`` for n in [0, this]: the median."""


def plan_for(candidate: Candidate) -> Plan:
    import duckdb

    from bawaba.catalog.load import load_catalog
    from bawaba.serving.query import row_key

    dataset = load_catalog(ROOT / "catalog.yaml").dataset(candidate.id)
    dimensions = [f.name for f in dataset.by_role("dimension")]
    measures = [f for f in dataset.by_role("measure") if f.type in ("integer", "decimal")]
    filter_column = "department" if "department" in dimensions else dimensions[0]
    decimals = [f.name for f in measures if f.type == "decimal"]
    sort_column = decimals[0] if decimals else measures[0].name
    db = duckdb.connect()
    source = str(candidate.path)
    # Column names come from the catalog (validated [a-z][a-z0-9_]*), values are bound.
    top = db.execute(
        f'SELECT "{filter_column}" AS v, count(*) AS n FROM read_parquet(?) GROUP BY v '  # noqa: S608
        "ORDER BY (v = 'RTA') DESC, n DESC LIMIT 1",
        [source],
    ).fetchone()
    median = db.execute(
        f'SELECT median("{sort_column}") FROM read_parquet(?)',  # noqa: S608
        [source],
    ).fetchone()
    assert top is not None
    assert median is not None
    return Plan(
        dataset=candidate.id,
        table=candidate.id.replace("-", "_"),
        columns=dataset.columns,
        key=row_key(dataset),
        filter_column=filter_column,
        filter_value=str(top[0]),
        sort_column=sort_column,
        group_by=tuple(dimensions[:2]),
        sums=tuple(f.name for f in measures if f.additive),
        threshold_high=max(1000, int(median[0])),
    )


def to_sqlite(candidate: Candidate, plan: Plan, target: Path) -> None:
    """The dataset as a SQLite table, as a careful Datasette user would load it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(candidate.path)
    types = []
    for field in table.schema:
        if pa.types.is_integer(field.type) or pa.types.is_boolean(field.type):
            types.append("INTEGER")
        elif pa.types.is_floating(field.type) or pa.types.is_decimal(field.type):
            types.append("REAL")
        else:
            types.append("TEXT")
    target.unlink(missing_ok=True)
    db = sqlite3.connect(target)
    columns = ", ".join(f'"{n}" {t}' for n, t in zip(table.column_names, types, strict=True))
    key = ", ".join(f'"{k}"' for k in plan.key)
    db.execute(f'CREATE TABLE "{plan.table}" ({columns}, PRIMARY KEY ({key}))')
    rows = [
        tuple(float(v) if isinstance(v, Decimal) else v for v in row)
        for row in zip(*(c.to_pylist() for c in table.columns), strict=True)
    ]
    marks = ", ".join("?" for _ in table.column_names)
    db.executemany(f'INSERT INTO "{plan.table}" VALUES ({marks})', rows)  # noqa: S608
    indexed = [*plan.group_by, *(c for c in plan.key if c not in plan.group_by)]
    for column in dict.fromkeys(indexed):
        db.execute(f'CREATE INDEX "ix_{column}" ON "{plan.table}" ("{column}")')
    db.execute(
        f'CREATE INDEX "ix_{plan.filter_column}_{plan.sort_column}" ON "{plan.table}" '
        f'("{plan.filter_column}", "{plan.sort_column}")'
    )
    db.commit()
    db.execute("ANALYZE")
    db.execute("VACUUM")
    db.close()


# ---------------------------------------------------------------------------------------
# Workloads and the equivalence check
# ---------------------------------------------------------------------------------------

VARIABLE = "{n}"
"""Where a miss variant's path takes its per-request filter value."""


@dataclass(frozen=True)
class Workload:
    name: str
    cache: str
    """``warm`` (one URL) or ``miss`` (a new filter value on every request)."""
    bawaba: str
    datasette: str


def _aggregate_sql(plan: Plan, threshold: bool) -> str:
    groups = ", ".join(plan.group_by)
    measures = ", ".join(["count(*) AS count", *(f"sum({c}) AS sum_{c}" for c in plan.sums)])
    where = f" WHERE {plan.sort_column} >= :n" if threshold else ""
    return (
        f"SELECT {groups}, {measures} FROM {plan.table}{where} "  # noqa: S608
        f"GROUP BY {groups} ORDER BY {groups}"
    )


DATASETTE_EXTRAS = {"_nocount": 1, "_nofacet": 1, "_nosuggest": 1}
"""Datasette's table pages without the total count, facets and facet suggestions: work
Bawaba's records page does not do either (it counts only past a full page)."""


def workloads(plan: Plan) -> list[Workload]:
    data = f"/api/v1/datasets/{plan.dataset}"
    encode = urllib.parse.urlencode
    at_least = f"&{plan.sort_column}__gte={VARIABLE}"
    found = []
    for cache in ("warm", "miss"):
        miss = cache == "miss"
        # Datasette breaks ties of a descending sort by the primary key, descending: the
        # same order, spelled out, makes the two pages hold the same rows.
        order = ",".join(f"-{c}" for c in (plan.sort_column, *plan.key))
        records = encode({plan.filter_column: plan.filter_value, "order": order, "limit": 100})
        table = encode(
            {
                plan.filter_column: plan.filter_value,
                "_sort_desc": plan.sort_column,
                "_size": 100,
                "_shape": "objects",
                **DATASETTE_EXTRAS,
            }
        )
        found.append(
            Workload(
                "records page",
                cache,
                f"{data}/records?{records}{at_least if miss else ''}",
                f"/{DB_NAME}/{plan.table}.json?{table}{at_least if miss else ''}",
            )
        )
        aggregate = encode(
            {
                "group_by": ",".join(plan.group_by),
                "measures": ",".join(["count", *(f"sum({c})" for c in plan.sums)]),
            }
        )
        sql = encode({"sql": _aggregate_sql(plan, miss), "_shape": "objects"})
        found.append(
            Workload(
                "aggregate",
                cache,
                f"{data}/aggregate?{aggregate}{at_least if miss else ''}",
                f"/{DB_NAME}.json?{sql}{f'&n={VARIABLE}' if miss else ''}",
            )
        )
        found.append(
            Workload(
                "CSV download",
                cache,
                f"{data}/download.csv{'?' + at_least[1:] if miss else ''}",
                f"/{DB_NAME}/{plan.table}.csv?_stream=on&{encode(DATASETTE_EXTRAS)}"
                f"{at_least if miss else ''}",
            )
        )
    return found


def _get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"GET {path} answered {response.status}: {body[:300]!r}")
        return body
    finally:
        connection.close()


def _close(a: object, b: object) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def check_equivalent(plan: Plan, work: list[Workload], bawaba: int, datasette: int) -> None:
    """Each pair of URLs returns the same rows (a fixed value in the miss variants)."""
    n = str(plan.threshold_high // 2)
    for w in work:
        ours = _get(bawaba, w.bawaba.replace(VARIABLE, n))
        theirs = _get(datasette, w.datasette.replace(VARIABLE, n))
        if w.name == "CSV download":
            our_rows = list(csv.DictReader(io.StringIO(ours.decode())))
            their_rows = list(csv.DictReader(io.StringIO(theirs.decode())))
            same = len(our_rows) == len(their_rows) and all(
                all(_close(_number(a[c]), _number(b[c])) for c in plan.columns)
                for a, b in zip(our_rows, their_rows, strict=True)
            )
            count = len(our_rows)
        else:
            our_doc, their_doc = json.loads(ours), json.loads(theirs)
            our_rows, their_rows = our_doc["rows"], their_doc["rows"]
            columns = list(our_rows[0]) if our_rows else []
            same = len(our_rows) == len(their_rows) and all(
                all(_close(a[c], b[c]) for c in columns)
                for a, b in zip(our_rows, their_rows, strict=True)
            )
            # With `_nocount` Datasette does not count the matching rows (null).
            their_total = their_doc.get("filtered_table_rows_count")
            if w.name == "records page" and their_total is not None:
                same = same and our_doc["total"] == their_total
            count = len(our_rows)
        if not same:
            sys.exit(
                f"{w.name} ({w.cache}): Bawaba and Datasette disagree\n{w.bawaba}\n{w.datasette}"
            )
        print(f"  same answer from both: {w.name} ({w.cache}), {count:,} rows")


def _number(text: str) -> object:
    """A CSV cell as a value both servers spell alike: SQLite has no boolean, so Datasette
    writes 1/0 where DuckDB writes true/false."""
    boolean = {"true": 1.0, "false": 0.0}.get(text)
    if boolean is not None:
        return boolean
    try:
        return float(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------


def datasette_app() -> Any:
    """The Datasette ASGI app for uvicorn's ``--factory`` (one per worker process)."""
    from datasette.app import Datasette

    return Datasette(immutables=[os.environ[DATASETTE_DB_ENV]], settings=DATASETTE_SETTINGS).app()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system time of every process of its session (the uvicorn master and
        its workers), read from /proc."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.process.pid:  # the session id
                    total += int(fields[11]) + int(fields[12])
        return total / tick


@contextlib.contextmanager
def serve(name: str, command: list[str], env: dict[str, str], ready: str) -> Iterator[Server]:
    port = _free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    server = Server(name, port, process)
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", ready)
                if connection.getresponse().status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                sys.exit(f"{name} did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        # The session holds only this server's master and workers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


BASELINE = "Bawaba baseline"


def bawaba_server(
    datasets: Path, var: Path, workers: int, platform_dir: Path | None = None
) -> contextlib.AbstractContextManager[Server]:
    """``bawaba serve``; with ``platform_dir``, the code of that checkout (``BASELINE``)."""
    env = _bawaba_env(var, datasets) | {"BAWABA_OPEN_RATE_LIMIT": "1000000000/minute"}
    if platform_dir is not None:
        env["PYTHONPATH"] = str(platform_dir.resolve())
    command = [
        str(BIN / "bawaba"), "serve", "--host", "127.0.0.1", "--port", "{port}",
        "--workers", str(workers),
    ]  # fmt: skip
    return serve("Bawaba" if platform_dir is None else BASELINE, command, env, "/healthz")


def datasette_server(db: Path, workers: int) -> contextlib.AbstractContextManager[Server]:
    env = os.environ | {DATASETTE_DB_ENV: str(db)}
    command = [
        str(BIN / "python"), "-m", "uvicorn", "--factory", "--app-dir", str(ROOT / "bench"),
        "api:datasette_app", "--host", "127.0.0.1", "--port", "{port}",
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    return serve("Datasette", command, env, "/-/versions.json")


# ---------------------------------------------------------------------------------------
# Load: wrk
# ---------------------------------------------------------------------------------------

DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

# A new filter value on every request: offset + i, so a run never repeats a value and two
# runs with offsets far apart never share one (the range is the column's median, millions).
VARYING = """
local template = %s
local high = %d
local i = 0
local offset = 0
function init(args)
  offset = tonumber(args[1])
end
function request()
  i = i + 1
  local path = template:gsub("{n}", tostring((offset + i) %% (high + 1)))
  return wrk.format("GET", path)
end
"""


@dataclass(frozen=True)
class Measured:
    server: str
    workers: int
    workload: str
    cache: str
    requests: int
    seconds: float
    bytes: int
    errors: int
    p50_ms: float
    p99_ms: float
    load: float
    """1-minute load average just before the run."""
    others_share: float
    """Share of the machine's CPU that went to processes other than this server and wrk."""
    cpu_ms: float
    """Server CPU time (all its processes) per request: steadier than req/s on a busy box."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run_wrk(
    server: Server, workers: int, w: Workload, path: str, args: argparse.Namespace,
    high: int, offset: int, duration: float,
) -> Measured:  # fmt: skip
    if VARIABLE in path:
        script = VARYING % (json.dumps(path), high) + DONE
    else:
        script = f"wrk.path = {json.dumps(path)}\n" + DONE
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = [
            "wrk", "-t1", f"-c{args.connections}", f"-d{duration:g}s", "--timeout", "10s",
            "-s", lua.name, f"http://127.0.0.1:{server.port}", "--", str(offset),
        ]  # fmt: skip
        tick = os.sysconf("SC_CLK_TCK")
        load = _loadavg()
        busy_before, total_before = _busy_jiffies()
        served_before = server.cpu_seconds()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            out = child.stdout.read() if child.stdout else ""
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        served = server.cpu_seconds() - served_before
        busy_after, total_after = _busy_jiffies()
    if child.returncode:
        sys.exit(f"wrk failed ({child.returncode}):\n{out}")
    found = re.search(r"^BENCH (.+)$", out, re.MULTILINE)
    if found is None:
        sys.exit(f"wrk printed no summary:\n{out}")
    requests, micros, size, *errors, p50, p99 = (float(v) for v in found.group(1).split())
    capacity = (total_after - total_before) / tick
    others = (busy_after - busy_before) / tick - served - (usage.ru_utime + usage.ru_stime)
    return Measured(
        server=server.name,
        workers=workers,
        workload=w.name,
        cache=w.cache,
        requests=int(requests),
        seconds=micros / 1e6,
        bytes=int(size),
        errors=int(sum(errors)),
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        load=load,
        others_share=max(0.0, others / capacity) if capacity else 0.0,
        cpu_ms=served * 1000 / max(1.0, requests),
    )


# ---------------------------------------------------------------------------------------
# An aggregate end to end against DuckDB in-process
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndToEnd:
    http_miss_ms: float
    http_hit_ms: float
    duckdb_ms: float
    requests: int

    @property
    def ratio(self) -> float:
        return self.http_miss_ms / self.duckdb_ms


def _answer_cache_misses(port: int) -> float:
    """The server's count of answers computed rather than taken from its cache (one
    worker: /metrics is per process)."""
    text = _get(port, "/metrics").decode()
    found = re.search(r'^bawaba_answer_cache_total\{outcome="miss"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def end_to_end(plan: Plan, candidate: Candidate, w: Workload, port: int, n: int) -> EndToEnd:
    """Median times of one client's sequential aggregate requests (each with a new filter
    value, so each is a cache miss; then one URL, all hits) and of DuckDB running the SQL
    the API compiles for them, in this process, on the same Parquet file."""
    import duckdb

    from bawaba.catalog.load import load_catalog
    from bawaba.serving.query import compile_aggregate, parse_aggregate

    # wrk sends thresholds from 0 to threshold_high, and the server keeps their answers:
    # negative ones are new to it, so each is a miss, and each aggregates every row.
    values = [-1 - i for i in range(n)]
    misses_before = _answer_cache_misses(port)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    miss, hit = [], []
    for times, paths in (
        (miss, [w.bawaba.replace(VARIABLE, str(v)) for v in values]),
        (hit, [w.bawaba.replace(VARIABLE, str(values[0]))] * n),
    ):
        for path in paths:
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            assert response.status == 200, path
    connection.close()
    missed = _answer_cache_misses(port) - misses_before
    if missed != n:
        sys.exit(f"end to end: {missed} of {n} requests were answer-cache misses, not all")

    dataset = load_catalog(ROOT / "catalog.yaml").dataset(plan.dataset)
    db = duckdb.connect(":memory:", config={"threads": 2})
    db.execute("SET parquet_metadata_cache = true")
    in_process = []
    for v in [values[-1], *values]:  # the first one reads the file's metadata
        query = parse_aggregate(
            dataset,
            [(f"{plan.sort_column}__gte", str(v))],
            group_by=",".join(plan.group_by),
            measures=",".join(["count", *(f"sum({c})" for c in plan.sums)]),
            order=None,
        )
        compiled = compile_aggregate(dataset, query, limit=10_001, plain_numbers=True)
        started = time.perf_counter()
        db.execute(compiled.sql, (str(candidate.path), *compiled.params)).fetchall()
        in_process.append(time.perf_counter() - started)
    db.close()
    return EndToEnd(
        http_miss_ms=statistics.median(miss) * 1000,
        http_hit_ms=statistics.median(hit) * 1000,
        duckdb_ms=statistics.median(in_process[1:]) * 1000,
        requests=n,
    )


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def table(results: list[Measured]) -> str:
    lines = [
        "| workers | workload | cache | Bawaba req/s | p50 ms | p99 ms | errors | CPU ms/req "
        "| Datasette req/s | p50 ms | p99 ms | errors | CPU ms/req | Bawaba / Datasette req/s "
        "| load 1 min | others' CPU |",
        "|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for ours, theirs in _pairs(results):
        lines.append(
            f"| {ours.workers} | {ours.workload} | {ours.cache} | {ours.rps:,.0f} | "
            f"{ours.p50_ms:.1f} | {ours.p99_ms:.1f} | {ours.errors} | {ours.cpu_ms:.2f} | "
            f"{theirs.rps:,.0f} | {theirs.p50_ms:.1f} | {theirs.p99_ms:.1f} | {theirs.errors} | "
            f"{theirs.cpu_ms:.2f} | "
            f"{ours.rps / theirs.rps:.1f}x | {ours.load:.1f} / {theirs.load:.1f} | "
            f"{ours.others_share:.0%} / {theirs.others_share:.0%} |"
        )
    return "\n".join(lines)


def baseline_table(results: list[Measured]) -> str:
    lines = [
        "| workers | workload | cache | this req/s | CPU ms/req | baseline req/s | CPU ms/req "
        "| this / baseline req/s | baseline / this CPU ms/req |",
        "|--:|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    ours = [r for r in results if r.server == "Bawaba"]
    before = [r for r in results if r.server == BASELINE]
    for o, b in zip(ours, before, strict=True):
        lines.append(
            f"| {o.workers} | {o.workload} | {o.cache} | {o.rps:,.0f} | {o.cpu_ms:.2f} | "
            f"{b.rps:,.0f} | {b.cpu_ms:.2f} | {o.rps / b.rps:.2f}x | {b.cpu_ms / o.cpu_ms:.2f}x |"
        )
    return "\n".join(lines)


def _pairs(results: list[Measured]) -> list[tuple[Measured, Measured]]:
    ours = [r for r in results if r.server == "Bawaba"]
    theirs = [r for r in results if r.server == "Datasette"]
    return list(zip(ours, theirs, strict=True))


def verdicts(results: list[Measured], e2e: EndToEnd) -> list[str]:
    pairs = _pairs(results)
    lines = []
    for cache in ("warm", "miss"):
        ratios = [(o.workload, o.workers, o.rps / t.rps) for o, t in pairs if o.cache == cache]
        if cache == "warm":
            # The workloads of the aim: each one URL, as a load generator repeats it.
            low = min(ratios, key=lambda r: r[2])
            short = [
                f"{name} ({workers}w) {ratio:.2f}x"
                for name, workers, ratio in ratios
                if ratio < AIM_RATIO
            ]
            lines.append(
                f"Aim {AIM_RATIO:g}x Datasette's req/s (each workload's URL, repeated): "
                + (
                    f"met on every workload (lowest {low[2]:.2f}x, {low[0]}, {low[1]} workers)."
                    if not short
                    else "missed on " + ", ".join(short) + "."
                )
            )
        else:
            lines.append(
                "Beyond the aim, a new filter value on every request (every Bawaba answer "
                "runs DuckDB), Bawaba / Datasette req/s: "
                + ", ".join(f"{name} ({workers}w) {ratio:.2f}x" for name, workers, ratio in ratios)
                + "."
            )
        # The same comparison by server CPU per request, which other jobs on the machine
        # disturb far less than req/s.
        by_cpu = [
            f"{o.workload} ({o.workers}w) {t.cpu_ms / o.cpu_ms:.1f}x"
            for o, t in pairs
            if o.cache == cache
        ]
        lines.append(
            f"By server CPU per request ({cache}), Datasette / Bawaba: " + ", ".join(by_cpu) + "."
        )
    errors = sum(r.errors for r in results if r.server == "Bawaba")
    their_errors = sum(r.errors for r in results if r.server == "Datasette")
    total = sum(r.requests for r in results if r.server == "Bawaba")
    lines.append(
        f"Aim zero errors: {'met' if errors == 0 else 'missed'} "
        f"({errors} Bawaba errors over {total:,} requests; Datasette {their_errors})."
    )
    lines.append(
        f"Aim aggregate end to end within {AIM_END_TO_END:g}x of DuckDB in-process: "
        f"{'met' if e2e.ratio <= AIM_END_TO_END else 'missed'} ({e2e.http_miss_ms:.2f} ms "
        f"median over HTTP on a cache miss, {e2e.duckdb_ms:.2f} ms in-process, "
        f"{e2e.ratio:.2f}x; {e2e.http_hit_ms:.2f} ms on a cache hit)."
    )
    return lines


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model.group(1) if model else platform.processor() or "unknown",
        "free": free.strip(),
        "python": platform.python_version(),
        "loadavg": Path("/proc/loadavg").read_text().strip(),
    }


def record(section: str) -> None:
    """Put ``section`` in bench/RESULTS.md, replacing an earlier API section only."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def _versions() -> str:
    from importlib.metadata import version

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout + wrk.stderr).split()[1]
    names = ("datasette", "duckdb", "fastapi", "uvicorn")
    return ", ".join(
        [
            *(f"{n} {version(n)}" for n in names),
            f"SQLite {sqlite3.sqlite_version}",
            f"wrk {wrk_version}",
        ]
    )


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, help="a datasets/ folder with a release")
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale without --datasets")
    parser.add_argument("--dataset", help="dataset id (default: the largest open one)")
    parser.add_argument("--workers", default="1,2", help="uvicorn workers, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--requests", type=int, default=300, help="end-to-end samples")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout's platform/ folder (e.g. the main branch's), served beside "
        "this one and measured in the same run: a before/after of a change",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `apt-get install -y wrk` (make bench does)")
    workers = [int(w) for w in args.workers.split(",")]

    datasets = ensure_release(args.datasets, args.scale)
    candidates = open_datasets(datasets)
    print("open datasets of the current release:")
    for c in candidates:
        print(f"  {c.id:<24} {c.version:<4} {c.rows:>9,} rows {c.bytes / 1024:>9,.0f} KiB")
    chosen = (
        next((c for c in candidates if c.id == args.dataset), None)
        if args.dataset
        else candidates[0]
    )
    if chosen is None:
        sys.exit(f"no open dataset {args.dataset!r} in the release")
    plan = plan_for(chosen)
    work = workloads(plan)

    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        db = Path(scratch) / f"{DB_NAME}.db"
        to_sqlite(chosen, plan, db)
        print(
            f"dataset {chosen.id} {chosen.version}: {chosen.rows:,} rows; SQLite copy "
            f"{db.stat().st_size / 1024:,.0f} KiB"
        )
        for count in workers:
            var = Path(scratch) / f"var-{count}"
            with contextlib.ExitStack() as stack:
                ours = stack.enter_context(bawaba_server(datasets, var, count))
                theirs = stack.enter_context(datasette_server(db, count))
                before = (
                    stack.enter_context(
                        bawaba_server(datasets, Path(f"{var}-baseline"), count, args.baseline)
                    )
                    if args.baseline
                    else None
                )
                print(
                    f"{count} worker(s) each: Bawaba on :{ours.port}, Datasette on :{theirs.port}"
                    + (f", Bawaba baseline on :{before.port}" if before else "")
                )
                if count == workers[0]:
                    check_equivalent(plan, work, ours.port, theirs.port)
                for index, w in enumerate(work):
                    runs = [(ours, w.bawaba), (theirs, w.datasette)]
                    if before is not None:
                        runs.insert(1, (before, w.bawaba))
                    for server, path in runs:
                        # Warm-up and run take values from disjoint ranges (offsets far apart).
                        base = plan.threshold_high // 2 + index * 100_000
                        if args.warmup > 0:
                            run_wrk(
                                server, count, w, path, args, plan.threshold_high, base, args.warmup
                            )
                        m = run_wrk(
                            server,
                            count,
                            w,
                            path,
                            args,
                            plan.threshold_high,
                            base + 1_000_000,
                            args.duration,
                        )
                        results.append(m)
                        print(
                            f"  {m.server:<9} {w.name:<13} {w.cache:<4} {m.rps:>8,.0f} req/s "
                            f"p50 {m.p50_ms:6.1f} ms p99 {m.p99_ms:6.1f} ms errors {m.errors} "
                            f"({m.bytes / m.seconds / 1e6:,.1f} MB/s, load {m.load:.1f}, "
                            f"others {m.others_share:.0%}, CPU {m.cpu_ms:.2f} ms/req)"
                        )
        # On one worker, whose /metrics tell that every request was a miss.
        aggregate_miss = next(w for w in work if w.name == "aggregate" and w.cache == "miss")
        with bawaba_server(datasets, Path(scratch) / "var-e2e", 1) as ours:
            e2e = end_to_end(plan, chosen, aggregate_miss, ours.port, args.requests)

    command = (
        "make bench  (or: .venv/bin/python bench/api.py"
        + (f" --datasets {args.datasets}" if args.datasets else f" --scale {args.scale:g}")
        + f" --workers {args.workers} --duration {args.duration:g}"
        + f" --connections {args.connections}"
        + (f" --baseline {args.baseline}" if args.baseline else "")
        + ")"
    )
    results_table = table(results)
    lines = verdicts(results, e2e)
    against = baseline_table(results) if args.baseline else ""
    print()
    print(results_table)
    print()
    print("\n".join(lines))
    if against:
        print()
        print(against)
    print(f"command: {command}")
    if args.no_record:
        return

    host = machine()
    first = work[0]
    section = "\n".join(
        [
            SECTION,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {host['nproc']} cores "
            f"({host['cpu']}), Python {host['python']}; {_versions()}. Load average at the "
            f"end: `{host['loadavg']}`.",
            "",
            "```",
            f"$ nproc\n{host['nproc']}\n$ free -h\n{host['free']}",
            "```",
            "",
            f"Command: `{command}`",
            "",
            f"Dataset: `{chosen.id}` {chosen.version}, {chosen.rows:,} rows, the largest open "
            "dataset of the release (premium datasets need a key and are not part of the "
            f"open API this compares). Both servers ran with the same number of uvicorn "
            f"workers on loopback; wrk ran 1 thread, {args.connections} connections, "
            f"{args.duration:g} s per run after a {args.warmup:g} s warm-up, against one server "
            "at a time (Bawaba, then Datasette, per workload). Datasette serves an immutable "
            "SQLite copy made by the benchmark, with the row key as primary key, an index on "
            f"each dimension and one on ({plan.filter_column}, {plan.sort_column}), "
            "`suggest_facets` off and the SQL time limit at Bawaba's 5 s deadline.",
            "",
            "Workloads (Bawaba / Datasette):",
            "",
            f"- records page: `{first.bawaba}` / `{first.datasette}`",
            f"- aggregate: `{work[1].bawaba}` / `{urllib.parse.unquote_plus(work[1].datasette)}`",
            f"- CSV download: `{work[2].bawaba}` / `{work[2].datasette}`",
            "- cache `warm`: that one URL on every request; Bawaba answers records and "
            "aggregates from its ETag answer cache (a product feature: a version never "
            "changes) and downloads from the file it wrote once; Datasette has no answer "
            "cache and queries SQLite every time.",
            f"- cache `miss`: the same plus `{plan.sort_column}__gte=n` (Datasette's aggregate: "
            f"`WHERE {plan.sort_column} >= :n`) with a new n on every request, so every "
            "Bawaba answer runs DuckDB (downloads: a DuckDB COPY to a new file).",
            "",
            "CPU ms/req is the server's CPU time (master and workers, from /proc) per "
            "answered request: the machine was shared with other jobs, so it is the steadier "
            "comparison. Load 1 min is /proc/loadavg just before each run (Bawaba / "
            "Datasette); others' CPU is the share of both cores that went to processes other "
            "than the server under load and wrk during the run.",
            "",
            results_table,
            "",
            *(f"- {line}" for line in lines),
            "",
            *(
                [
                    f"This checkout against `{args.baseline}` (`{BASELINE}`), the same "
                    "workloads in the same run, one after the other:",
                    "",
                    against,
                    "",
                ]
                if against
                else []
            ),
            f"End to end: {e2e.requests} sequential aggregate requests from one keep-alive "
            f"client to a fresh one-worker server (`{aggregate_miss.bawaba}` with a new "
            "negative n each time, which wrk never sends: every row counts, and its /metrics "
            "confirm that every answer was a cache miss), median wall time per answer, "
            "against the median of "
            "DuckDB (2 threads) running the SQL the API compiles for them, in-process on the "
            "same Parquet file with `fetchall()`. Bawaba answers a version this small from its "
            "copy in memory (`BAWABA_RESIDENT_MB`).",
            "",
        ]
    )
    record(section)
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
