"""The monthly cycle's cost with one year of history and with two.

    .venv/bin/python bench/monthly.py [--scale 0.25] [--workdir bench/out/monthly]

An operator's cycle, as ``bawaba simulate --through``, ``bawaba pipelines run`` and
``bawaba publish`` run it every month for the seven departments that deliver files. The
bench catches up to November 2012 untimed, then times the December 2012 cycle (the last
month of the first year: one year of history), catches up to November 2013, and times the
December 2013 cycle (the same linked structure over twice the history). Each step runs in a
subprocess and is measured on its own (``os.wait4``): wall time, CPU time, peak RSS. The aim
(issue text): the second cycle within 1.3x of the first.

The departments' volumes grow from one year to the next (the simulator follows the
published yearly totals), so the year the second cycle builds holds more rows than the
first's; the publish's cost is also given per row of the year it builds, read from the
counts the publish keeps (``publish.periods``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAWABA = Path(sys.executable).parent / "bawaba"
DEPARTMENTS = ("RTA", "DEWA", "DM", "DED", "DTCM", "DP", "DCAA")
AIM_RATIO = 1.3


@dataclass
class Step:
    label: str
    seconds: float
    cpu_seconds: float
    peak_mb: float


def run(label: str, args: list[str], env: dict[str, str]) -> Step:
    started = time.perf_counter()
    with subprocess.Popen([str(BAWABA), *args], env=env, stdout=subprocess.DEVNULL) as child:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"{label}: `bawaba {' '.join(args)}` failed with exit code {child.returncode}")
    seconds = time.perf_counter() - started
    return Step(label, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def cycle(month: str, env: dict[str, str]) -> list[Step]:
    chosen = [a for d in DEPARTMENTS for a in ("--department", d)]
    return [
        run(f"{month} simulate", ["simulate", "--through", month, *chosen], env),
        run(f"{month} ingest", ["pipelines", "run", *DEPARTMENTS], env),
        run(f"{month} publish", ["publish"], env),
    ]


def rows_of_year(var: Path, year: int) -> int:
    """The store's rows of ``year``, as the last publish counted them."""
    import polars as pl

    from bawaba.publish.periods import counts_path
    from bawaba.publish.revisions import PERIOD

    counts = pl.read_parquet(counts_path(var))
    return int(counts.filter(pl.col(PERIOD) // 100 == year).get_column("rows").sum())


def raw_rows_of_last_run(var: Path) -> int:
    """The raw rows the latest ingestion run took in, from its report."""
    report = json.loads(max((var / "runs").glob("*.json")).read_text())
    return sum(int(d["raw"]) for d in report["departments"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "monthly")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")} | {
        "BAWABA_VAR_DIR": str(args.workdir / "var"),
        "BAWABA_DATASETS_DIR": str(args.workdir / "datasets"),
        "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
        "BAWABA_PIPELINES_DIR": str(ROOT / "pipelines"),
        "BAWABA_SCALE": str(args.scale),
        "BAWABA_KEEP_VERSIONS": "100",
        "BAWABA_PSEUDONYM_KEY": "bench-monthly-" + "k" * 40,
    }
    print(f"catching up to 2012-11 at scale {args.scale} ...", flush=True)
    cycle("2012-11", env)
    var = args.workdir / "var"
    first = cycle("2012-12", env)
    first_rows, first_raw = rows_of_year(var, 2012), raw_rows_of_last_run(var)
    print("catching up to 2013-11 ...", flush=True)
    cycle("2013-11", env)
    second = cycle("2013-12", env)
    second_rows, second_raw = rows_of_year(var, 2013), raw_rows_of_last_run(var)
    print(f"{'step':<20} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    for step in first + second:
        figures = f"{step.seconds:>8.1f} {step.cpu_seconds:>8.1f} {step.peak_mb:>8.0f}"
        print(f"{step.label:<20} {figures}")
    for name in ("ingest", "publish"):
        a = next(s for s in first if s.label.endswith(name))
        b = next(s for s in second if s.label.endswith(name))
        ratio = b.cpu_seconds / a.cpu_seconds
        verdict = "meets" if ratio <= AIM_RATIO else "misses"
        print(f"{name}: year 2 / year 1 = {ratio:.2f}x CPU ({verdict} the {AIM_RATIO}x aim)")
    for name, rows, what in (
        ("ingest", (first_raw, second_raw), "raw row delivered"),
        ("publish", (first_rows, second_rows), "row of the year built"),
    ):
        a, b = (next(s for s in steps if s.label.endswith(name)) for steps in (first, second))
        per_row = (b.cpu_seconds / rows[1]) / (a.cpu_seconds / rows[0])
        print(
            f"{name} per {what}: {rows[0]:,} rows, then {rows[1]:,}; "
            f"year 2 / year 1 = {per_row:.2f}x CPU per row"
        )
    reports = sorted((args.workdir / "var" / "publish").glob("*.json"))
    last = json.loads(reports[-1].read_text())
    print(f"last publish built {last['built_years']}, took {last['reused_years']} as published")
    print(f"reproduce: .venv/bin/python bench/monthly.py --scale {args.scale}")


if __name__ == "__main__":
    main()
