"""Timings of disclosure control on a synthetic release of realistic size.

Reproduce with::

    .venv/bin/python bench/disclosure.py                 # the monthly-size release
    .venv/bin/python bench/disclosure.py --daily         # plus the daily table by department

Microdata: ``--transactions`` payments over 24 months by ``--payers`` payers (individuals
with few payments, a few hundred companies with many large ones), 25 departments with 10
services each, 6 channels, 4 payment methods, 8 banks. Tables follow catalog.yaml's shapes:
annual by department (protected), monthly by department x channel, x payment method,
x service (twice); quarterly by department, x amount band, x payer type;
direct-debit monthly by department x bank; the hour-of-week profile; optionally the daily
table by department (premium, k = 5).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import polars as pl

from bawaba.disclosure import AuditTable, link, primary, protect, sensitive_share
from bawaba.disclosure.audit import audit_flags
from bawaba.disclosure.secondary import secondary_flags

T = TypeVar("T")
QUANTITIES = {"epay_success:count": "transactions", "epay_success:amount": "amount_aed"}
DERIVED = {
    "day": ("day", "month", "quarter", "year"),
    "month": ("month", "quarter", "year"),
    "quarter": ("quarter", "year"),
    "service": ("service", "department"),
}
BANDS = [0, 50, 100, 250, 500, 1_000, 5_000, 10_000, 50_000]


def microdata(n: int, n_payers: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    companies = n_payers // 200
    company = rng.random(n) < 0.08
    payer = np.where(
        company,
        rng.integers(0, companies, n),
        companies + np.minimum(rng.zipf(1.3, n), n_payers) % (n_payers - companies),
    )
    department = rng.choice(25, n, p=np.r_[np.full(5, 0.1), np.full(20, 0.025)])
    service = department * 10 + np.minimum(rng.geometric(0.35, n) - 1, 9)
    amount = np.where(
        company, np.round(rng.lognormal(8, 1.5, n), 2), np.round(rng.lognormal(4.5, 1.0, n), 2)
    )
    day = rng.integers(0, 730, n)
    frame = pl.DataFrame(
        {
            "payer": payer,
            "payer_type": np.where(company, "company", "individual"),
            "department": department,
            "service": service,
            "channel": rng.choice(6, n, p=[0.45, 0.3, 0.1, 0.07, 0.05, 0.03]),
            "payment_method": rng.choice(4, n, p=[0.6, 0.2, 0.15, 0.05]),
            "bank": rng.integers(0, 8, n),
            "hour_of_week": rng.integers(0, 168, n),
            "amount": amount,
            "amount_band": np.searchsorted(BANDS, amount, side="right").astype(str),
            "day": pl.date_range(
                pl.date(2023, 1, 1), pl.date(2024, 12, 30), "1d", eager=True
            ).gather(day),
        }
    )
    return frame.with_columns(
        pl.col("department", "service", "channel", "payment_method", "bank").cast(pl.String),
        month=pl.col("day").dt.strftime("%Y-%m"),
        quarter=pl.col("day").dt.year().cast(pl.String)
        + "-Q"
        + pl.col("day").dt.quarter().cast(pl.String),
        year=pl.col("day").dt.year().cast(pl.String),
    ).with_columns(pl.col("payment_method").replace({"3": "direct_debit"}))


def table(
    name: str,
    rows: pl.DataFrame,
    keys: Sequence[str],
    *,
    k: int = 10,
    restriction: dict[str, str] | None = None,
    protected: bool = False,
) -> AuditTable:
    for column, value in (restriction or {}).items():
        rows = rows.filter(pl.col(column) == value)
    coordinates = tuple(dict.fromkeys(c for key in keys for c in DERIVED.get(key, (key,))))
    per_payer = rows.group_by([*coordinates, "payer"]).agg(n=pl.len(), s=pl.col("amount").sum())
    cells = per_payer.group_by(coordinates).agg(
        transactions=pl.col("n").sum(),
        payers=pl.len(),
        amount_aed=pl.col("s").sum(),
        amount_aed_top1=pl.col("s").max(),
        amount_aed_top2=pl.col("s").top_k(2).min(),
    )
    cells = cells.with_columns(
        pl.when(pl.col("payers") > 1).then(pl.col("amount_aed_top2")).otherwise(0.0)
    ).sort(coordinates)
    return AuditTable(name, cells, coordinates, QUANTITIES, restriction or {}, k, 15.0, protected)


def release(rows: pl.DataFrame, *, daily: bool) -> list[AuditTable]:
    tables = [
        table("epay-annual", rows, ("year", "department"), protected=True),
        table("epay-monthly", rows, ("month", "department", "channel")),
        table("epay-payment-methods", rows, ("month", "department", "payment_method")),
        table("eservice-adoption", rows, ("quarter", "department")),
        table("epay-amount-bands", rows, ("quarter", "department", "amount_band"), k=5),
        table("payer-mix", rows, ("quarter", "department", "payer_type"), k=5),
        table("service-performance", rows, ("month", "service"), k=5),
        table(
            "epay-direct-debit-banks",
            rows,
            ("month", "department", "bank"),
            k=5,
            restriction={"payment_method": "direct_debit"},
        ),
        table("epay-hourly-profile", rows, ("year", "hour_of_week", "department"), k=5),
        table("epay-monthly-service", rows, ("month", "service"), k=5),
    ]
    if daily:
        tables.append(table("epay-daily", rows, ("day", "department"), k=5))
    return tables


def timed(label: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = work()
    print(f"  {label:<34} {time.perf_counter() - start:8.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--payers", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--daily", action="store_true", help="add the daily table")
    args = parser.parse_args()
    command = "bench/disclosure.py" + (" --daily" if args.daily else "")
    print(f"command: .venv/bin/python {command} --transactions {args.transactions}")

    rows = timed("microdata", lambda: microdata(args.transactions, args.payers, args.seed))
    tables = timed("build tables", lambda: release(rows, daily=args.daily))
    for t in tables:
        share = sensitive_share(t)
        print(f"    {t.name:<28} {t.cells.height:>8} cells  {share:6.1%} sensitive")

    # The stages one by one (one round), then protect() end to end.
    primaried = timed("primary", lambda: [primary(t) for t in tables])
    linkage = timed("link (relations, groups)", lambda: link(primaried))
    print(
        f"    {len(linkage.relations)} relations, {linkage.n_groups} groups, "
        f"{len(linkage.member_cell)} memberships"
    )
    flags = timed("secondary", lambda: secondary_flags(linkage, linkage.flags()))
    audits = timed("audit (one round)", lambda: audit_flags(linkage, flags))
    failing = sum(int((~a.ok).sum()) for a in audits)
    print(
        f"    {int(linkage.flags().sum())} primary, {int(flags.sum())} after secondary, "
        f"{failing} cell-quantities too narrow"
    )
    done, report = timed("protect (end to end)", lambda: protect(tables))
    hidden = sum(int(t.suppressed.sum()) for t in done)
    total = sum(t.cells.height for t in done)
    print(
        f"    {hidden} of {total} cells suppressed; report ok={report.ok}, "
        f"{report.rows.height} cell-quantities audited"
    )


if __name__ == "__main__":
    main()
