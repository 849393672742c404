"""Ingest and publish here and on a Dask LocalCluster of 1 and 2 worker processes.

    PYTHONPATH=platform .venv/bin/python bench/dask_cluster.py --scale 0.25 --scale 1.0
    PYTHONPATH=platform .venv/bin/python bench/dask_cluster.py --scale 3.0 --simulation W/sim
    PYTHONPATH=platform .venv/bin/python bench/dask_cluster.py --scale 1.0 --workers 2

Each configuration ingests and publishes the same simulation (copied, so every run starts
from the same landing zone) through the CLI in a subprocess, and reports its wall time,
the CPU seconds and peak RSS of the command (its own), and those of each worker (read from the
worker processes themselves, ``client.run``). On two cores the point is the overhead and
the memory per worker, not a speed-up.

On Linux a process's peak RSS starts at its parent's at the fork (``ru_maxrss`` survives
``fork`` and ``exec``), and this process grows as it serves the departments' exports. So
the commands and the cluster are started from a small process of their own, forked by a
fork server that starts before anything else (``multiprocessing``'s "forkserver"); the
floor every figure inherits is printed with them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

from bawaba.loopback import serve_in_thread
from bawaba.simulator.server import create_app

ROOT = Path(__file__).resolve().parent.parent
BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")


def _worker_usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _command(env: dict[str, str], *args: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one ``bawaba`` command, its own
    (``os.wait4``), not the largest of every child so far."""
    started = time.perf_counter()
    with subprocess.Popen(
        [BAWABA, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as child:
        err = child.stderr.read() if child.stderr else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode in (0, 1), err[-2000:]
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, action="append")
    parser.add_argument(
        "--simulation",
        type=Path,
        help="a var folder `bawaba simulate` filled at the one --scale given (bench/ingest.py "
        "leaves one in WORKDIR/sim): linked, not simulated again",
    )
    parser.add_argument("--tmp", type=Path, help="where the runs' folders go (default: /tmp)")
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        choices=(0, 1, 2),
        help="run only these configurations (0: here, without a cluster); default all three",
    )
    args = parser.parse_args()
    scales = args.scale or [0.25]
    if args.simulation is not None and len(scales) != 1:
        parser.error("--simulation goes with exactly one --scale, the simulation's")
    key = secrets.token_urlsafe(48)
    launcher = multiprocessing.get_context("forkserver")
    launcher.set_forkserver_preload(["distributed"])
    # Started now, while this process is small: every later child is forked from it.
    _launched(launcher, _own_peak_mb)
    for scale in scales:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            base = Path(tmp) / "base"
            if args.simulation is not None:
                shutil.copytree(args.simulation, base / "var", copy_function=os.link)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")},
                "BAWABA_SCALE": str(scale),
                "BAWABA_PSEUDONYM_KEY": key,
                "BAWABA_PIPELINES_DIR": str(ROOT / "pipelines"),
                "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
            }
            if args.simulation is None:
                subprocess.run(
                    [BAWABA, "simulate"],
                    env={**env, "BAWABA_VAR_DIR": str(base / "var")},
                    check=True,
                    capture_output=True,
                )
            for workers in args.workers or (0, 1, 2):
                _measure(launcher, env, base, Path(tmp) / f"w{workers}", scale, workers)


Figures = dict[str, Any]


def _launched(launcher: multiprocessing.context.ForkServerContext, work: Any, *args: Any) -> Any:
    """``work(*args)``, run in a process forked by the fork server (not a pool's daemon:
    a LocalCluster starts worker processes of its own)."""
    receiving, sending = launcher.Pipe(duplex=False)
    process = launcher.Process(target=_send, args=(sending, work, *args))
    process.start()
    sending.close()
    result = receiving.recv()
    process.join()
    return result


def _send(sending: Any, work: Any, *args: Any) -> None:
    sending.send(work(*args))


def _own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(
    launcher: multiprocessing.context.ForkServerContext,
    env: dict[str, str],
    base: Path,
    root: Path,
    scale: float,
    workers: int,
) -> None:
    # Hard links: a run adds files and replaces others whole, never writes into one.
    shutil.copytree(base, root, symlinks=True, copy_function=os.link)
    env = {**env, "BAWABA_VAR_DIR": str(root / "var"), "BAWABA_DATASETS_DIR": str(root / "ds")}
    label = "local" if workers == 0 else f"LocalCluster, {workers} worker(s)"
    with serve_in_thread(create_app(root / "var" / "departments")) as url:
        figures: Figures = _launched(launcher, _configuration, env, url, workers)
    print(
        f"scale {scale} {label}: peak RSS floor inherited by every process "
        f"{figures['floor']:.0f} MB"
    )
    for step in ("ingest", "publish"):
        wall, cpu, rss = figures[step]
        print(
            f"scale {scale} {label:<26} {step:<8} wall {wall:6.1f} s  command CPU {cpu:6.1f} s"
            f"  command peak RSS {rss:6.0f} MB"
        )
    for name in ("after ingest", "after publish"):
        for worker, (cpu, rss) in sorted(figures[name].items()):
            print(f"    worker {worker} {name}: CPU {cpu:.1f} s, peak RSS {rss:.0f} MB")


def _configuration(env: dict[str, str], url: str, workers: int) -> Figures:
    """Ingest then publish, locally or on a LocalCluster of ``workers`` started here: run
    in the small process the fork server forks, so that the commands and the workers
    inherit its peak RSS, not the benchmark's."""
    figures: Figures = {"floor": _own_peak_mb(), "after ingest": {}, "after publish": {}}
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
        for step, command in (("ingest", ["pipelines", "run"]), ("publish", ["publish"])):
            figures[step] = _command({**env, "BAWABA_DEPARTMENTS_API_URL": url}, *command, *extra)
            if cluster is not None:
                with Client(cluster.scheduler_address) as client:
                    figures[f"after {step}"] = client.run(_worker_usage)
    finally:
        if cluster is not None:
            cluster.close()
    return figures


if __name__ == "__main__":
    main()
