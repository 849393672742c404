"""Times building, protecting and gating every dataset from the demo analytic store.

    .venv/bin/python bench/publish.py [--workdir bench/out/scale-1.0]

The workdir must hold an ingested store (``var/``): ``bench/ingest.py`` leaves one there.
Publishes into a fresh ``datasets/`` folder in a subprocess and reports its wall time and
peak memory, and what the release holds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAWABA = ROOT / ".venv" / "bin" / "bawaba"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "scale-1.0")
    args = parser.parse_args()
    var = args.workdir / "var"
    if not (var / "store" / "manifest.json").exists():
        sys.exit(f"no analytic store under {var}: run bench/ingest.py --workdir {args.workdir}")
    datasets = args.workdir / "datasets"
    shutil.rmtree(datasets, ignore_errors=True)
    key_file = var / "secrets" / "pseudonym.key"
    env = os.environ | {
        "BAWABA_VAR_DIR": str(var),
        "BAWABA_DATASETS_DIR": str(datasets),
        "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
        "BAWABA_PIPELINES_DIR": str(ROOT / "pipelines"),
    }
    if key_file.exists():
        env["BAWABA_PSEUDONYM_KEY"] = key_file.read_text().strip()
    started = time.perf_counter()
    subprocess.run([str(BAWABA), "publish"], env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(max((var / "publish").glob("*.json")).read_text())
    rows = sum(d["rows"] for d in report["datasets"])
    print(
        f"publish: {seconds:.1f} s wall, peak {peak_mb:.0f} MB, {len(report['datasets'])} "
        f"datasets, {rows:,} published rows"
    )
    for d in report["datasets"]:
        print(
            f"  {d['dataset']:<26} {d['status']:<9} {d['rows']:>8,} rows "
            f"{d['suppressed']:>7,} suppressed {d['note']}"
        )
    print(f"reproduce: .venv/bin/python bench/publish.py --workdir {args.workdir}")


if __name__ == "__main__":
    main()
