"""What checking a key costs per request with the key store in SQLite or in PostgreSQL, and
how soon a replica learns of a revocation.

Reproduce with::

    .venv/bin/python bench/key_store.py              # about half a minute
    .venv/bin/python bench/key_store.py --calls 50000 --rounds 7

In one process, against a throwaway PostgreSQL on loopback (tests/cluster/postgres.py
starts Debian's, as the tests do) and a SQLite file in a temporary folder:

* ``version()``: the question the gate asks on every keyed request (has any key changed?).
  SQLite answers with one ``pread`` of its WAL index, PostgreSQL with one ``poll`` of its
  LISTEN connection.
* the gate, key remembered: what ``Authenticator`` does for an ``X-API-Key`` request whose
  key it has already checked: the version question, a dictionary look-up, the expiry.
* a version row read: what the gate would pay instead if it asked PostgreSQL a
  ``SELECT`` on every request (the design not taken), on a prepared statement.
* delivery: after a revocation's commit returns to the writer, how long until another
  connection's ``version()`` moves (LISTEN/NOTIFY through the server).

Per-call figures are process CPU time (less disturbed by other jobs on a shared machine
than wall time), the median over rounds; delivery is wall time. Figures go to stdout and
to the "## Key store" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import psycopg  # noqa: E402
from postgres import postgres_server  # noqa: E402
from starlette.datastructures import Headers  # noqa: E402

from bawaba.api.gatekeeper import Authenticator  # noqa: E402
from bawaba.catalog.load import load_catalog  # noqa: E402
from bawaba.core.key_store import KeyStore  # noqa: E402
from bawaba.keys.plans import load_plans  # noqa: E402
from bawaba.keys.postgres_store import PostgresKeyStore  # noqa: E402
from bawaba.keys.store import KeyStore as SqliteKeyStore  # noqa: E402
from bawaba.keys.tokens import FileSigningKeys, TokenIssuer  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Key store"
SECRET = b"a-benchmark-secret-of-32-chars!!"


def per_call_us(action: Callable[[], object], calls: int, rounds: int) -> float:
    """Median over rounds of the CPU time of one call, in µs."""
    action()
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            action()
        figures.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(figures)


def gate_for(store: KeyStore, tokens: TokenIssuer) -> Callable[[], object]:
    plans = load_plans(ROOT / "api_keys" / "plans.yaml", load_catalog(ROOT / "catalog.yaml"))
    gate = Authenticator(store, tokens, plans)
    _, text = store.create("Benchmark", "business", None)
    headers = Headers({"x-api-key": text})
    return lambda: gate(headers, datetime.now(UTC))


def delivery_us(url: str, samples: int) -> list[float]:
    """Wall time from a revocation's commit returning to the writer until another
    connection's version() moves, in µs, ``samples`` times."""
    writer, reader = PostgresKeyStore(url, SECRET), PostgresKeyStore(url, SECRET)
    seen: list[float] = []
    try:
        with psycopg.connect(url, autocommit=True) as db:
            for _ in range(samples):
                key, _ = writer.create("Benchmark", "business", None)
                before = reader.version()
                # By hand, not through a store: a store's own writes move the version of
                # every store in its process at once, which would measure nothing.
                db.execute("UPDATE keys SET revoked_at = now() WHERE id = %s", (key.id,))
                committed = time.perf_counter()
                while reader.version() == before:
                    pass
                seen.append((time.perf_counter() - committed) * 1e6)
    finally:
        writer.close()
        reader.close()
    return sorted(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200, help="revocations timed")
    options = parser.parse_args()
    calls, rounds = options.calls, options.rounds
    with postgres_server() as pg, tempfile.TemporaryDirectory() as scratch:
        url = pg.new_database("bench_keys")
        sqlite = SqliteKeyStore(Path(scratch) / "keys.sqlite", SECRET)
        postgres = PostgresKeyStore(url, SECRET)
        file_tokens = TokenIssuer(FileSigningKeys(Path(scratch) / "token-keys.json"), 60)
        pg_tokens = TokenIssuer(postgres.signing_keys(), 60)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE TABLE version_row (version bigint NOT NULL)")
            db.execute("INSERT INTO version_row VALUES (1)")
            row = per_call_us(
                lambda: db.execute("SELECT version FROM version_row", prepare=True).fetchone(),
                max(calls // 20, 200),
                rounds,
            )
        figures = {
            "version(), SQLite": per_call_us(sqlite.version, calls, rounds),
            "version(), PostgreSQL": per_call_us(postgres.version, calls, rounds),
            "the gate, key remembered, SQLite": per_call_us(
                gate_for(sqlite, file_tokens), calls, rounds
            ),
            "the gate, key remembered, PostgreSQL": per_call_us(
                gate_for(postgres, pg_tokens), calls, rounds
            ),
            "a version row read (SELECT, prepared), PostgreSQL": row,
        }
        delivered = delivery_us(url, options.samples)
        postgres.close()
    lines = [
        SECTION,
        "",
        "Command: `.venv/bin/python bench/key_store.py "
        f"--calls {calls} --rounds {rounds} --samples {options.samples}`",
        "",
        f"Load average at the end: {Path('/proc/loadavg').read_text().split()[0]} "
        f"on {__import__('os').cpu_count()} cores (a shared machine).",
        "",
        "| per call | CPU µs (median of rounds) |",
        "|---|---:|",
        *(f"| {name} | {value:.2f} |" for name, value in figures.items()),
        "",
        f"Delivery of a revocation to another connection's `version()` over {len(delivered)} "
        "revocations (wall time after the writer's commit returned): median "
        f"{statistics.median(delivered):.0f} µs, 99th percentile "
        f"{delivered[int(len(delivered) * 0.99) - 1]:.0f} µs, max {delivered[-1]:.0f} µs.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
