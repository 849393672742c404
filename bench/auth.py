"""What the premium tier's checks cost per request: an open answer fetched anonymously,
with ``X-API-Key`` and with ``Authorization: Bearer``, from the same server.

Reproduce with::

    make bench                      # every benchmark; this one runs after bench/api.py
    .venv/bin/python bench/auth.py  # a small demo release of its own (scale 0.05)
    .venv/bin/python bench/auth.py --datasets datasets --rounds 5 --duration 10

The release is read from ``--datasets``; without one, the benchmark publishes its own with
``bawaba demo --scale S --no-serve`` into ``bench/out/auth-demo`` and reuses it later.

One ``bawaba serve`` (one worker, loopback) runs with everything of its own in a temporary
folder: var/, the key store, and a plans file that is api_keys/plans.yaml plus a ``bench``
plan whose rate limit and quotas are out of reach, with the open rate limit raised as far:
this measures what the checks cost, not refusals. A key is made with
``bawaba keys create --plan bench --json`` and exchanged at ``POST /oauth/token`` for a JWT.

The URL is one records page of an open dataset, the same on every request, so after the
first request it is a warm answer from the ETag answer cache: the cheapest answer the API
gives, where the gate's share of the time is the largest (a DuckDB query would hide it). Three
variants, told apart only by a header (wrk ``-H``):

* ``anonymous``: no credentials; rate limited by address.
* ``X-API-Key``: the key; the gate checks it against the store (keyed hash), rate limits
  it by key and plan, reserves it against the monthly quotas and meters the answer.
* ``Bearer JWT``: the token; the gate checks its signature and claims, then looks its key
  up in the store (a revoked key is refused on its very next request), and the same limits,
  quota and metering follow.

Before any load, each variant is checked to answer 200 with the same body, under the policy
it should (``RateLimit-Policy`` names ``anonymous`` or the ``bench`` plan). Then wrk (1
thread, N connections) runs each variant for the same time, in rounds whose order rotates,
because the machine is shared and its load drifts: a variant's figure is the median over
rounds, and its loss is set against the anonymous median. The server's CPU time per request
(all its processes, from /proc) is reported beside req/s: other jobs disturb it far less.

Figures go to stdout and to the "## Auth" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from api import (
    BIN,
    DONE,
    ROOT,
    Server,
    _bawaba_env,
    _busy_jiffies,
    _loadavg,
    ensure_release,
    machine,
    open_datasets,
    serve,
)

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Auth"
DEMO_WORKDIR = ROOT / "bench" / "out" / "auth-demo"
# The aim (issue 5): a keyed request, by either credential, loses under 10 % of the
# requests per second an anonymous one gets from the same server.
AIM_LOSS = 0.10
PLAN = "bench"
UNLIMITED = "1000000000/minute"
ANONYMOUS, API_KEY, BEARER = "anonymous", "X-API-Key", "Bearer JWT"


# ---------------------------------------------------------------------------------------
# The server, its plans and its key
# ---------------------------------------------------------------------------------------


def write_plans(target: Path) -> None:
    """api_keys/plans.yaml and a plan that never refuses: no quotas, a rate limit out of
    reach, every premium dataset (unused here: the URL is open)."""
    plans = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    plans["plans"][PLAN] = {
        "title": {"en": "Benchmark", "ar": "قياس الأداء"},
        "price": {"en": "None", "ar": "لا شيء"},
        "description": {"en": "bench/auth.py only.", "ar": "لقياس الأداء فقط."},
        "rate_limits": UNLIMITED,
        "monthly_requests": None,
        "monthly_rows": None,
        "premium_datasets": "all",
        "analytics": True,
        "max_export_rows": None,
    }
    target.write_text(yaml.safe_dump(plans, allow_unicode=True, sort_keys=False), "utf-8")


def server_env(datasets: Path, scratch: Path) -> dict[str, str]:
    plans = scratch / "plans.yaml"
    write_plans(plans)
    # The key store goes with var/ (bench/api.py's environment puts it there).
    return _bawaba_env(scratch / "var", datasets) | {
        "BAWABA_PLANS_PATH": str(plans),
        "BAWABA_OPEN_RATE_LIMIT": UNLIMITED,
        # Outlives the run, so no token expires under load.
        "BAWABA_TOKEN_LIFETIME_S": "86400",
    }


@dataclass(frozen=True)
class Credentials:
    key_id: str
    key: str


def create_key(env: dict[str, str]) -> Credentials:
    done = subprocess.run(
        [str(BIN / "bawaba"), "keys", "create", "--org", "Benchmark", "--plan", PLAN, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(done.stdout)
    assert created["plan"] == PLAN, created
    return Credentials(created["id"], created["key"])


def bearer_token(port: int, credentials: Credentials) -> str:
    basic = base64.b64encode(f"{credentials.key_id}:{credentials.key}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/oauth/token",
            body="grant_type=client_credentials",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        sys.exit(f"POST /oauth/token answered {response.status}: {body[:300]!r}")
    token: str = json.loads(body)["access_token"]
    return token


@contextlib.contextmanager
def bawaba_server(env: dict[str, str]) -> Iterator[Server]:
    command = [
        str(BIN / "bawaba"), "serve", "--host", "127.0.0.1", "--port", "{port}",
        "--workers", "1",
    ]  # fmt: skip
    with serve("Bawaba", command, env, "/healthz") as server:
        yield server


# ---------------------------------------------------------------------------------------
# The variants and their check
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    headers: dict[str, str]
    policy: str
    """What ``RateLimit-Policy`` must name: proof that the credential was used."""


def variants(credentials: Credentials, token: str) -> list[Variant]:
    return [
        Variant(ANONYMOUS, {}, "anonymous"),
        Variant(API_KEY, {"X-API-Key": credentials.key}, PLAN),
        Variant(BEARER, {"Authorization": f"Bearer {token}"}, PLAN),
    ]


def records_path(datasets: Path, dataset: str | None) -> tuple[str, str]:
    """(dataset id, the URL of one records page of it): the largest open dataset unless
    one is named."""
    candidates = open_datasets(datasets)
    chosen = next((c for c in candidates if c.id == dataset), None) if dataset else candidates[0]
    if chosen is None:
        sys.exit(f"no open dataset {dataset!r} in the release")
    query = urllib.parse.urlencode({"limit": 100})
    return chosen.id, f"/api/v1/datasets/{chosen.id}/records?{query}"


def check_variants(port: int, path: str, found: list[Variant]) -> None:
    """Each variant answers 200 with the same body, under the policy it should."""
    bodies = {}
    for v in found:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path, headers=v.headers)
            response = connection.getresponse()
            body = response.read()
            policy = response.getheader("RateLimit-Policy", "")
        finally:
            connection.close()
        if response.status != 200:
            sys.exit(f"{v.name}: GET {path} answered {response.status}: {body[:300]!r}")
        if not policy.startswith(f'"{v.policy}"'):
            sys.exit(f"{v.name}: answered under policy {policy!r}, not {v.policy!r}")
        bodies[v.name] = body
    if len(set(bodies.values())) != 1:
        sys.exit("the variants' answers differ")


# ---------------------------------------------------------------------------------------
# Load: wrk
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    variant: str
    round: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    load: float
    """1-minute load average just before the run."""
    others_share: float
    """Share of the machine's CPU that went to processes other than this server and wrk."""
    cpu_ms: float
    """Server CPU time (all its processes) per request."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    server: Server, v: Variant, path: str, connections: int, duration: float, round_: int
) -> Measured:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
        *(part for name, value in v.headers.items() for part in ("-H", f"{name}: {value}")),
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(f"wrk.path = {json.dumps(path)}\n" + DONE)
        lua.flush()
        command += ["-s", lua.name, f"http://127.0.0.1:{server.port}"]
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
    requests, micros, _size, *errors, p50, p99 = (float(x) for x in found.group(1).split())
    capacity = (total_after - total_before) / tick
    others = (busy_after - busy_before) / tick - served - (usage.ru_utime + usage.ru_stime)
    return Measured(
        variant=v.name,
        round=round_,
        requests=int(requests),
        seconds=micros / 1e6,
        errors=int(sum(errors)),
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        load=load,
        others_share=max(0.0, others / capacity) if capacity else 0.0,
        cpu_ms=served * 1000 / max(1.0, requests),
    )


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    variant: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    errors: int
    requests: int
    rounds: list[float]
    """req/s of each round, in round order."""


def summarise(results: list[Measured]) -> list[Summary]:
    """Per variant, the median of each figure over the rounds."""
    found = []
    for name in (ANONYMOUS, API_KEY, BEARER):
        runs = sorted((r for r in results if r.variant == name), key=lambda r: r.round)
        found.append(
            Summary(
                variant=name,
                rps=statistics.median(r.rps for r in runs),
                p50_ms=statistics.median(r.p50_ms for r in runs),
                p99_ms=statistics.median(r.p99_ms for r in runs),
                cpu_ms=statistics.median(r.cpu_ms for r in runs),
                errors=sum(r.errors for r in runs),
                requests=sum(r.requests for r in runs),
                rounds=[r.rps for r in runs],
            )
        )
    return found


def table(summaries: list[Summary]) -> str:
    base = summaries[0]
    lines = [
        "| variant | req/s (median) | req/s by round | p50 ms | p99 ms | CPU ms/req "
        "| CPU µs/req over anonymous | req/s lost | lost by round | req/s lost by CPU "
        "| errors |",
        "|---|--:|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for s in summaries:
        lost = 1 - s.rps / base.rps
        lost_by_cpu = 1 - base.cpu_ms / s.cpu_ms
        rounds = " / ".join(f"{r:,.0f}" for r in s.rounds)
        # Within a round the variants ran minutes apart at most: the paired figure.
        paired = " / ".join(f"{1 - r / b:+.0%}" for r, b in zip(s.rounds, base.rounds, strict=True))
        lines.append(
            f"| {s.variant} | {s.rps:,.0f} | {rounds} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | "
            f"{s.cpu_ms:.3f} | {(s.cpu_ms - base.cpu_ms) * 1000:+.0f} | {lost:+.1%} | "
            f"{paired} | {lost_by_cpu:+.1%} | {s.errors} |"
        )
    return "\n".join(lines)


def verdicts(summaries: list[Summary]) -> list[str]:
    base = summaries[0]
    lines = []
    for s in summaries[1:]:
        lost = 1 - s.rps / base.rps
        lost_by_cpu = 1 - base.cpu_ms / s.cpu_ms
        lines.append(
            f"Aim under {AIM_LOSS:.0%} of req/s lost, {s.variant}: "
            f"{'met' if lost < AIM_LOSS else 'missed'} ({lost:.1%} of the anonymous "
            f"{base.rps:,.0f} req/s; by server CPU per request {lost_by_cpu:.1%}: "
            f"{(s.cpu_ms - base.cpu_ms) * 1000:+.0f} µs a request)."
        )
    errors = sum(s.errors for s in summaries)
    total = sum(s.requests for s in summaries)
    lines.append(f"Errors: {errors} over {total:,} requests.")
    return lines


def versions() -> str:
    """What the figures depend on (not Datasette: this benchmark does not need the extra)."""
    from importlib.metadata import version

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    names = ("fastapi", "uvicorn", "joserfc")
    return ", ".join(
        [
            *(f"{n} {version(n)}" for n in names),
            f"SQLite {sqlite3.sqlite_version}",
            f"wrk {(wrk.stdout + wrk.stderr).split()[1]}",
        ]
    )


def record(section: str) -> None:
    """Put ``section`` in bench/RESULTS.md, replacing an earlier Auth section only."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, help="a datasets/ folder with a release")
    parser.add_argument("--scale", type=float, default=0.05, help="demo scale without --datasets")
    parser.add_argument("--dataset", help="open dataset id (default: the largest)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `apt-get install -y wrk` (make bench does)")

    datasets = ensure_release(args.datasets, args.scale, DEMO_WORKDIR)
    dataset, path = records_path(datasets, args.dataset)
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as scratch:
        env = server_env(datasets, Path(scratch))
        credentials = create_key(env)
        with bawaba_server(env) as server:
            found = variants(credentials, bearer_token(server.port, credentials))
            check_variants(server.port, path, found)
            print(f"Bawaba on :{server.port}, 1 worker; GET {path}")
            for round_ in range(args.rounds):
                # Each round starts with another variant, so none always runs first.
                order = found[round_ % len(found) :] + found[: round_ % len(found)]
                for v in order:
                    if args.warmup > 0:
                        run_wrk(server, v, path, args.connections, args.warmup, round_)
                    m = run_wrk(server, v, path, args.connections, args.duration, round_)
                    results.append(m)
                    print(
                        f"  round {round_ + 1} {v.name:<10} {m.rps:>8,.0f} req/s "
                        f"p50 {m.p50_ms:5.1f} ms p99 {m.p99_ms:5.1f} ms errors {m.errors} "
                        f"CPU {m.cpu_ms:.3f} ms/req (load {m.load:.1f}, "
                        f"others {m.others_share:.0%})"
                    )

    summaries = summarise(results)
    command = (
        "make bench  (or: .venv/bin/python bench/auth.py"
        + (f" --datasets {args.datasets}" if args.datasets else f" --scale {args.scale:g}")
        + f" --rounds {args.rounds} --duration {args.duration:g}"
        + f" --connections {args.connections})"
    )
    results_table = table(summaries)
    lines = verdicts(summaries)
    print()
    print(results_table)
    print()
    print("\n".join(lines))
    print(f"command: {command}")
    if args.no_record:
        return

    host = machine()
    loads = [r.load for r in results]
    others = [r.others_share for r in results]
    section = "\n".join(
        [
            SECTION,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {host['nproc']} cores "
            f"({host['cpu']}), Python {host['python']}; {versions()}. Load average at the "
            f"end: `{host['loadavg']}`; 1-minute load before the runs {min(loads):.1f}-"
            f"{max(loads):.1f}, other jobs' share of both cores during them "
            f"{min(others):.0%}-{max(others):.0%}.",
            "",
            "```",
            f"$ nproc\n{host['nproc']}\n$ free -h\n{host['free']}",
            "```",
            "",
            f"Command: `{command}`",
            "",
            f"URL: `{path}` (`{dataset}`, the largest open dataset of the release), the same "
            "on every request: after the first, a warm answer from the ETag answer cache, so "
            "the gate's share of the time is as large as it gets. One `bawaba serve` worker "
            f"on loopback; wrk 1 thread, {args.connections} connections, {args.duration:g} s "
            f"per run after a {args.warmup:g} s warm-up; {args.rounds} rounds of the three "
            "variants, the order rotating each round; medians over the rounds. The key is "
            f"on a `{PLAN}` plan (api_keys/plans.yaml plus one plan with no quotas and the "
            f"rate limit {UNLIMITED}, as is the open limit), so nothing is refused: the "
            "figures are the cost of the checks (credential, rate limit by key, quota "
            "admission, metering), not of refusals.",
            "",
            "- anonymous: no credentials.",
            "- X-API-Key: the key from `bawaba keys create --plan bench --json`.",
            "- Bearer JWT: `Authorization: Bearer` with a token from `POST /oauth/token` "
            "(client credentials, HTTP Basic).",
            "",
            "CPU ms/req is the server's CPU time (from /proc) per answered request: other "
            "jobs on the machine disturb it less than req/s, though a loaded machine raises "
            "it too. 'req/s lost by CPU' is what a CPU-bound server would lose: 1 - anonymous "
            "CPU per request / the variant's. 'lost by round' pairs each round's runs, which "
            "ran within a minute of each other.",
            "",
            results_table,
            "",
            *(f"- {line}" for line in lines),
            "",
        ]
    )
    record(section)
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
