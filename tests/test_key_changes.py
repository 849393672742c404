"""The key store's change watch: every commit by another connection is seen, whatever
checkpoints come between, so a revoked key cannot stay accepted from a kept copy."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bawaba.keys.changes import CommitWatch

CHECKPOINTS = ("PASSIVE", "FULL", "RESTART", "TRUNCATE")
STEPS = st.lists(st.sampled_from(("commit", "read", *CHECKPOINTS)), min_size=1, max_size=40)


def _database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return db


@settings(max_examples=40, deadline=None)
@given(steps=STEPS)
def test_the_watch_moves_with_every_commit_and_agrees_with_sqlite(steps: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "keys.sqlite"
        anchor, other = _database(path), _database(path)
        watch = CommitWatch(path, anchor)
        for step in steps:
            before = watch.version()
            if step == "commit":
                other.execute("INSERT INTO t VALUES (1)")
            elif step == "read":
                other.execute("SELECT count(*) FROM t").fetchone()
            else:
                other.execute(f"PRAGMA wal_checkpoint({step})").fetchone()
            after = watch.version()
            if step == "commit":
                assert after != before
            # Otherwise it answers as SQLite does (which also moves after some checkpoints).
            assert after == anchor.execute("PRAGMA data_version").fetchone()[0], step
        other.close()
        anchor.close()


def test_the_watch_sees_a_commit_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    anchor = _database(path)
    watch = CommitWatch(path, anchor)
    before = watch.version()
    assert watch.version() == before
    writer = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('INSERT INTO t VALUES (2)'); db.close()"
    )
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True)
    assert watch.version() != before
