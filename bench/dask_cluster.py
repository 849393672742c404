"""Ingest and publish here and on a Dask LocalCluster of 1 and 2 worker processes.

    PYTHONPATH=platform .venv/bin/python bench/dask_cluster.py --scale 0.25 --scale 1.0

Each configuration ingests and publishes the same simulation (copied, so every run starts
from the same landing zone) through the CLI in a subprocess, and reports its wall time,
the CPU seconds and peak RSS of the command, and those of each worker (read from the
worker processes themselves, ``client.run``). On two cores the point is the overhead and
the memory per worker, not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from bawaba.loopback import serve_in_thread
from bawaba.simulator.server import create_app

ROOT = Path(__file__).resolve().parent.parent
BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")


def _worker_usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _command(env: dict[str, str], *args: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one ``bawaba`` command."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([BAWABA, *args], env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the largest of any child so far: runs go smallest first.
    return time.perf_counter() - started, cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, action="append")
    scales = parser.parse_args().scale or [0.25]
    key = secrets.token_urlsafe(48)
    for scale in scales:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")},
                "BAWABA_SCALE": str(scale),
                "BAWABA_PSEUDONYM_KEY": key,
                "BAWABA_PIPELINES_DIR": str(ROOT / "pipelines"),
                "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
            }
            subprocess.run(
                [BAWABA, "simulate"],
                env={**env, "BAWABA_VAR_DIR": str(base / "var")},
                check=True,
                capture_output=True,
            )
            for workers in (0, 1, 2):
                _measure(env, base, Path(tmp) / f"w{workers}", scale, workers)


def _measure(env: dict[str, str], base: Path, root: Path, scale: float, workers: int) -> None:
    shutil.copytree(base, root, symlinks=True)
    env = {**env, "BAWABA_VAR_DIR": str(root / "var"), "BAWABA_DATASETS_DIR": str(root / "ds")}
    label = "local" if workers == 0 else f"LocalCluster, {workers} worker(s)"
    cluster = None
    if workers:
        cluster = LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            protocol="tcp",
            dashboard_address=":0",
        )
    try:
        extra = ["--cluster", cluster.scheduler_address] if cluster else []
        with serve_in_thread(create_app(root / "var" / "departments")) as url:
            ingest = _command(
                {**env, "BAWABA_DEPARTMENTS_API_URL": url}, "pipelines", "run", *extra
            )
        with Client(cluster.scheduler_address) if cluster else _Nothing() as client:
            after_ingest = client.run(_worker_usage) if cluster else {}
        publish = _command(env, "publish", *extra)
        with Client(cluster.scheduler_address) if cluster else _Nothing() as client:
            after_publish = client.run(_worker_usage) if cluster else {}
    finally:
        if cluster is not None:
            cluster.close()
    for step, (wall, cpu, rss) in (("ingest", ingest), ("publish", publish)):
        print(
            f"scale {scale} {label:<26} {step:<8} wall {wall:6.1f} s  command CPU {cpu:6.1f} s"
            f"  command peak RSS (largest so far) {rss:6.0f} MB"
        )
    for name, figures in (("after ingest", after_ingest), ("after publish", after_publish)):
        for worker, (cpu, rss) in sorted(figures.items()):
            print(f"    worker {worker} {name}: CPU {cpu:.1f} s, peak RSS {rss:.0f} MB")


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


if __name__ == "__main__":
    main()
