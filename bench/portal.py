"""How fast the portal renders its pages, over a published release (by default the one
`make demo` leaves in datasets/).

Starts the app on loopback in this process, warms it with one request per page, then asks
for every page ``--repeat`` times, one at a time, and reports the server-side time (the
Server-Timing header: data reads and template) and the client's wall time, median and p95.

    .venv/bin/python bench/portal.py [--datasets-dir datasets] [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

from bawaba.api.app import create_app
from bawaba.catalog.load import load_catalog
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings

AIM_MS = 100.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", type=Path, default=Path("datasets"))
    parser.add_argument("--var-dir", type=Path, default=Path("var/bench-portal"))
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if not (args.datasets_dir / "current.json").exists():
        raise SystemExit(f"no release in {args.datasets_dir}: run `make demo` first")
    settings = Settings(
        datasets_dir=args.datasets_dir,
        var_dir=args.var_dir,
        open_rate_limit="1000000/minute",
    )
    catalog = load_catalog(settings.catalog_path)
    pages = ["/", "/datasets", "/plans"]
    for dataset in catalog.datasets:
        pages.append(f"/datasets/{dataset.id}")
    pages += [
        "/datasets/epay-payment-methods?order=-amount_aed&page=7",
        "/datasets/epay-monthly?lang=ar&order=-transactions&page=3",
    ]
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        for page in pages:
            client.get(page).raise_for_status()
        print(f"{'page':<62} {'server p50':>10} {'p95':>7} {'wall p50':>9} {'p95':>7}  ms")
        worst = 0.0
        for page in pages:
            server, wall = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(page)
                wall.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                server.append(float(response.headers["server-timing"].split("dur=")[1]))
            worst = max(worst, statistics.median(server))
            print(
                f"{page:<62} {statistics.median(server):>10.1f} {percentile(server, 0.95):>7.1f}"
                f" {statistics.median(wall):>9.1f} {percentile(wall, 0.95):>7.1f}"
            )
    verdict = "met" if worst < AIM_MS else "missed"
    print(f"slowest median server time {worst:.1f} ms against the aim of {AIM_MS:g} ms: {verdict}")


if __name__ == "__main__":
    main()
