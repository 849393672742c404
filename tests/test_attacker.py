"""The independent attacker (``tests/attacker.py``) against what the library publishes.

Three things, each with the attacker and the judge kept apart: the attacker reads only what
is published; the judge, written here, knows the true values and says which hidden values
the attacker narrowed below k (counts) or p % of the true value (amounts).

* a demo release (simulated, ingested and published at scale 0.01): nothing recovered;
* random linked tables (a daily table by service and channel, an hour-of-week profile, an
  amount-band table, monthly and annual tables, fixed-fee services) protected by
  ``bawaba.disclosure.protect`` and published as its redacted frames: nothing recovered;
* :func:`recovered_when_weakened`: the same attack on fixed releases with a switch of the
  audit's model turned off on purpose, which must let the attacker recover something
  (:data:`WEAKENINGS` lists the switches).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from attacker import (
    Table,
    attack,
    attack_release,
    band_limits,
    with_fixed_fees,
)
from bawaba.catalog.load import load_catalog
from bawaba.disclosure import AuditTable, DisclosureError, protect, redact
from bawaba.disclosure.model import Unprotectable
from bawaba.settings import Settings
from conftest import ROOT
from test_publish import published

__all__ = ["published"]  # the module fixture of the demo release, shared

QUANTITIES = {"epay_success:count": "transactions", "epay_success:amount": "amount_aed"}
LOW, HIGH = "per_transaction_low", "per_transaction_high"
_TOL = 1e-6


# -- the judge ---------------------------------------------------------------------------


def judge(values: pl.DataFrame, truth: pl.Series) -> pl.DataFrame:
    """The hidden values the attacker recovered, given each one's true value (same order).

    Also checks the attacker's honesty: a true value lies in its exact interval, and an
    interval the attacker left inner (shown wide) is never narrow by the truth either.
    """
    judged = values.with_columns(truth.cast(pl.Float64).alias("true"))
    outside = judged.filter(
        (pl.col("exact_lo") & (pl.col("true") < pl.col("lo") - 1e-4 * (1 + pl.col("true"))))
        | (pl.col("exact_hi") & (pl.col("true") > pl.col("hi") + 1e-4 * (1 + pl.col("true"))))
    )
    assert outside.is_empty(), f"true values outside the attacker's interval:\n{outside}"
    # The true point is feasible, so the reader's interval holds it too: an inner interval
    # the attacker left (shown wide by its own measure) is judged with the truth added.
    judged = judged.with_columns(
        pl.min_horizontal("lo", "true").alias("lo"), pl.max_horizontal("hi", "true").alias("hi")
    )
    counts = (pl.col("hi") + _TOL).floor() - (pl.col("lo") - _TOL).ceil()
    width = pl.col("hi") - pl.col("lo")
    narrow = (
        pl.when(pl.col("kind") == "count")
        .then(counts < pl.col("k"))
        .otherwise(width < pl.col("p") / 100 * pl.col("true") - _TOL)
    )
    recovered = judged.filter(narrow)
    inner = recovered.filter(~(pl.col("exact_lo") & pl.col("exact_hi")))
    assert inner.is_empty(), f"the attacker stopped early on narrow values:\n{inner}"
    return recovered


def recovered_cells(recovered: pl.DataFrame) -> dict[str, int]:
    """Dataset -> how many of its suppressed cells have a recovered value."""
    per = recovered.group_by("table").agg(pl.col("row").n_unique().alias("cells"))
    return dict(sorted(per.iter_rows()))


# -- (a) the demo release ----------------------------------------------------------------


def demo_truth(settings: Settings) -> dict[str, pl.DataFrame]:
    """Every dataset's true cells, built from the store as the publisher builds them."""
    from bawaba.publish.builders import BUILDERS, Context
    from bawaba.publish.coordinates import with_time
    from bawaba.publish.folding import apply_fold, fold_map
    from bawaba.publish.rows import decode, scan_rows
    from bawaba.reference import load_reference

    catalog = load_catalog(settings.catalog_path)
    premium_k = min(d.privacy.k for d in catalog.datasets if d.privacy and d.tier == "premium")
    rows = with_time(scan_rows(settings)).collect()
    store = apply_fold(rows.lazy(), fold_map(rows.lazy(), premium_k)).collect()
    reference = load_reference()
    out = {}
    for ds in catalog.datasets:
        if ds.privacy is None:
            continue
        built = BUILDERS[ds.builder](Context(store.lazy(), reference, ds))
        out[ds.id] = decode(built.cells)
    return out


def judge_release(settings: Settings, values: pl.DataFrame) -> pl.DataFrame:
    """:func:`judge` on a published release: each hidden value's truth from the store."""
    catalog = load_catalog(settings.catalog_path)
    truth = demo_truth(settings)
    found = []
    for (name, version), part in values.group_by("table", "version", maintain_order=True):
        ds = catalog.dataset(str(name))
        keys = [f.name for f in ds.fields if f.role in ("time", "dimension")]
        frame = pl.read_parquet(settings.datasets_dir / str(name) / str(version) / "data.parquet")
        where = frame.select(pl.col(k).cast(pl.String) for k in keys).with_row_index("row")
        cells = truth[str(name)].select(
            *(pl.col(k).cast(pl.String) for k in keys),
            *(pl.col(c) for c in {v for q, v in _quantities(ds).items()}),
        )
        located = part.join(where.with_columns(pl.col("row").cast(pl.Int64)), on="row")
        located = located.join(cells, on=keys, how="left")
        measure = pl.Series([_quantities(ds)[q] for q in located["quantity"]])
        true = [located[m][i] for i, m in enumerate(measure)]
        found.append(judge(located.select(values.columns), pl.Series(true, dtype=pl.Float64)))
    return pl.concat(found) if found else values.clear()


def _quantities(ds: Any) -> dict[str, str]:
    out = {}
    for f in ds.by_role("measure"):
        if f.additive:
            kind = "count" if f.type == "integer" else "amount"
            out[f"{f.population or ds.privacy.population}:{kind}"] = f.name
    return out


def test_the_attacker_recovers_nothing_from_the_demo_release(published: Settings) -> None:
    started = time.perf_counter()
    values = attack_release(published.datasets_dir, load_catalog(ROOT / "catalog.yaml"))
    seconds = time.perf_counter() - started
    print(f"attacked {values.height} hidden values of the demo release in {seconds:.2f} s")
    assert seconds < 60
    assert recovered_cells(judge_release(published, values)) == {}


# -- (b) generated releases --------------------------------------------------------------

START = date(2024, 1, 22)  # a Monday: three weeks across a month boundary
DAYS = 21
DEPARTMENTS = ("A", "B")
CHANNELS = ("web", "app")
HOURS = (9, 20)
FEES: dict[str, float | None] = {"S1": 100.0, "S2": None, "S3": 20.0}
"""Service -> its fixed fee (None: the amount varies)."""


@dataclass(frozen=True)
class Payment:
    payer: int
    department: str
    service: str
    day: int
    hour: int
    channel: str
    amount: float


@dataclass(frozen=True)
class Design:
    name: str
    keys: tuple[str, ...]
    protected: bool = False


MENU = (
    Design("daily-service", ("date", "department", "service", "channel")),
    Design("hourly-profile", ("year", "hour_of_week", "department", "channel")),
    Design("amount-bands", ("month", "department", "amount_band")),
    Design("monthly-channel", ("month", "department", "channel")),
    Design("monthly", ("month", "department")),
    Design("annual", ("year", "department"), protected=True),
)
DERIVED = {
    "date": ("date", "weekday", "month", "quarter", "year"),
    "month": ("month", "quarter", "year"),
    "hour_of_week": ("hour_of_week", "weekday", "hour"),
}


@st.composite
def payments(draw: st.DrawFn) -> list[Payment]:
    """Individuals (payers 0-29) and a few companies (30-33) paying linked services."""
    out = []
    for _ in range(draw(st.integers(1, 150))):
        service = draw(st.sampled_from(sorted(FEES)))
        company = draw(st.integers(0, 7)) == 0
        payer = draw(st.integers(30, 33) if company else st.integers(0, 29))
        fee = FEES[service]
        variable = st.floats(5_000, 500_000) if company else st.sampled_from([35.0, 80.0, 420.0])
        amount = fee if fee is not None else round(draw(variable), 2)
        out.append(
            Payment(
                payer,
                draw(st.sampled_from(DEPARTMENTS)),
                service,
                draw(st.integers(0, DAYS - 1)),
                draw(st.sampled_from(HOURS)),
                draw(st.sampled_from(CHANNELS)),
                amount,
            )
        )
    return out


def microdata(rows: Sequence[Payment]) -> pl.DataFrame:
    """The payments with every coordinate the tables use."""
    limits = band_limits()
    frame = pl.DataFrame(
        [
            {
                "payer": r.payer,
                "department": r.department,
                "service": r.service,
                "date": START + timedelta(days=r.day),
                "hour": r.hour,
                "channel": r.channel,
                "amount": r.amount,
                "amount_band": next(b for b, (lo, hi) in limits.items() if lo <= r.amount < hi),
            }
            for r in rows
        ]
    )
    weekday = frame.get_column("date").dt.weekday() % 7  # 0 = Sunday
    return frame.with_columns(
        weekday.alias("weekday"),
        (weekday * 24 + pl.col("hour")).alias("hour_of_week"),
        pl.col("date").dt.strftime("%Y-%m").alias("month"),
        (
            pl.col("date").dt.year().cast(pl.String)
            + "-Q"
            + pl.col("date").dt.quarter().cast(pl.String)
        ).alias("quarter"),
        pl.col("date").dt.year().alias("year"),
    )


def _limits(cells: pl.DataFrame) -> pl.DataFrame:
    """The audit's per-transaction amount limits of each cell: its band, or a fixed fee."""
    limits = band_limits()
    low = pl.lit(None, dtype=pl.Float64)
    high = pl.lit(None, dtype=pl.Float64)
    if "amount_band" in cells.columns:
        band = pl.col("amount_band")
        low = band.replace_strict({b: lo for b, (lo, _) in limits.items()}, return_dtype=pl.Float64)
        high = band.replace_strict(
            {b: hi if math.isfinite(hi) else None for b, (_, hi) in limits.items()},
            return_dtype=pl.Float64,
        )
    if "service" in cells.columns:
        fees = {s: f for s, f in FEES.items() if f is not None}
        fee = pl.col("service").replace_strict(fees, default=None, return_dtype=pl.Float64)
        low, high = fee, fee
    return cells.with_columns(low.alias(LOW), high.alias(HIGH))


def audit_table(frame: pl.DataFrame, design: Design, k: int) -> AuditTable:
    """A cell table of ``frame`` by the design's keys, with the statistics the rules need."""
    coordinates = tuple(dict.fromkeys(c for key in design.keys for c in DERIVED.get(key, (key,))))
    per_payer = frame.group_by([*coordinates, "payer"]).agg(n=pl.len(), s=pl.col("amount").sum())
    cells = (
        per_payer.group_by(coordinates)
        .agg(
            transactions=pl.col("n").sum().cast(pl.Int64),
            payers=pl.len().cast(pl.Int64),
            amount_aed=pl.col("s").sum(),
            amount_aed_top1=pl.col("s").max(),
            amount_aed_top2=pl.col("s").sort(descending=True).slice(1, 1).first(),
        )
        .with_columns(pl.col("amount_aed_top2").fill_null(0.0))
        .sort(coordinates)
    )
    return AuditTable(
        design.name, _limits(cells), coordinates, QUANTITIES, {}, k, 15.0, design.protected
    )


def as_published(table: AuditTable) -> Table:
    """What a reader holds of a protected table: the redacted frame, nothing else."""
    frame = redact(table).select(*table.coordinates, "transactions", "amount_aed", "suppressed")
    limits = band_limits()
    if "amount_band" in table.coordinates:
        band = frame.get_column("amount_band")
        frame = frame.with_columns(
            band.replace_strict({b: lo for b, (lo, _) in limits.items()}).alias(LOW),
            band.replace_strict({b: hi for b, (_, hi) in limits.items()}).alias(HIGH),
        )
    return Table(
        table.name, "epay_success", table.coordinates, frame, QUANTITIES, {}, table.k, table.p
    )


def fixed_services() -> dict[str, tuple[float, float]]:
    """What the published service catalogue says: which services are fixed, and the band
    of each fee."""
    limits = band_limits()
    return {
        s: next(v for v in limits.values() if v[0] <= fee < v[1])
        for s, fee in FEES.items()
        if fee is not None
    }


def attack_protected(done: Sequence[AuditTable]) -> dict[str, int]:
    """Attack the published tables, judge with the true cells: recovered cells per table."""
    tables = with_fixed_fees([as_published(t) for t in done], fixed_services())
    result = attack(tables)
    by_name = {t.name: t for t in done}
    truth = [
        by_name[name].cells[QUANTITIES[q]][row]
        for name, row, q in result.values.select("table", "row", "quantity").iter_rows()
    ]
    return recovered_cells(judge(result.values, pl.Series(truth, dtype=pl.Float64)))


def protected(tables: list[AuditTable], *, note: bool = True) -> list[AuditTable] | None:
    """The protected tables, or None when the library refuses the release."""
    try:
        done, report = protect(tables)
    except DisclosureError:
        if note:
            event("refused")
        return None
    assert report.ok
    if note:
        event("protected")
    return done


@given(
    payments(),
    st.lists(st.sampled_from(MENU), min_size=2, max_size=3, unique=True),
    st.sampled_from([2, 3]),
)
def test_the_attacker_recovers_nothing_from_protected_linked_tables(
    rows: list[Payment], designs: list[Design], k: int
) -> None:
    frame = microdata(rows)
    done = protected([audit_table(frame, d, k) for d in designs])
    if done is not None:
        assert attack_protected(done) == {}


# -- (c) a weakened audit must let the attacker through ----------------------------------


def _scenario(
    days: Mapping[int, int],
    designs: Sequence[str],
    k: int = 3,
    *,
    services: Mapping[int, str] | None = None,
    companies: Sequence[float] = (9_000.0,),
) -> list[AuditTable]:
    """Payments of department A at 09:00 by web: on each day of ``days`` that many payers
    paying for service S2 (variable, 80 AED each) or the day's fixed-fee service of
    ``services``; and on the first day, one company per amount of ``companies`` paying it
    for S2, so that bands and amounts matter."""
    fees = {"S2": 80.0} | {s: f for s, f in FEES.items() if f is not None}
    rows = [
        Payment(payer, "A", service, day, 9, "web", fees[service])
        for day, payers in days.items()
        for service in [(services or {}).get(day, "S2")]
        for payer in range(payers)
    ]
    rows += [
        Payment(30 + i, "A", "S2", min(days), 9, "web", amount)
        for i, amount in enumerate(companies)
    ]
    frame = microdata(rows)
    by_name = {d.name: d for d in MENU}
    return [audit_table(frame, by_name[name], k) for name in designs]


SCENARIOS: dict[str, Callable[[], list[AuditTable]]] = {
    # Tuesday of week 1 is small, Tuesday of week 2 large: the hour-of-week profile gives
    # all Tuesdays, so the small one follows unless the daily table hides more on Tuesdays.
    "weekday": lambda: _scenario(
        {1: 2, 8: 20, 15: 20, 3: 2, 10: 20, 17: 20}, ["daily-service", "hourly-profile"]
    ),
    # Two companies share a band cell, hidden; the month's total is published, and the
    # individuals' band, hidden beside it, is narrow enough by its limits to give the
    # companies' amount away.
    "bands": lambda: _scenario(
        {1: 2, 2: 18}, ["monthly", "amount-bands"], companies=(9_000.0, 6_000.0)
    ),
    # Two fixed fees in one monthly total: a count and an amount equation in two hidden
    # counts give both away.
    "fees": lambda: _scenario(
        {1: 2, 2: 20, 3: 20},
        ["daily-service", "monthly-channel"],
        services={1: "S1", 2: "S3", 3: "S3"},
        companies=(),
    ),
    # One hidden cell beside a published total.
    "totals": lambda: _scenario({1: 2, 2: 20, 3: 20}, ["daily-service", "monthly"]),
}


@dataclass(frozen=True)
class Weakening:
    """A switch of the audit's model turned off on purpose, and the scenario it matters in.

    ``target`` is ``"package.module:attribute"``; ``value`` replaces it for the test (with
    ``monkeypatch``). Add one per model switch: the test below then shows that the attacker
    catches a release protected without it.
    """

    name: str
    target: str
    value: object
    scenario: str


def _no_secondary(linkage: object, flags: Any) -> Any:
    return flags


def _no_audit(linkage: object, flags: object, cache: object, **_: object) -> list[object]:
    return []


def _scope_without_weekday(table: AuditTable) -> set[str]:
    return {*table.coordinates, *table.restriction} - {"weekday"}


_UNCOUPLED = property(lambda table: False)


WEAKENINGS: tuple[Weakening, ...] = (
    Weakening(
        "no secondary suppression",
        "bawaba.disclosure.protect:secondary_flags",
        _no_secondary,
        "totals",
    ),
    Weakening(
        "no weekday relation",
        "bawaba.disclosure.linked:_scope",
        _scope_without_weekday,
        "weekday",
    ),
    Weakening("no band limits", "bawaba.disclosure.model:AuditTable.coupled", _UNCOUPLED, "bands"),
    Weakening("no fixed fees", "bawaba.disclosure.model:AuditTable.coupled", _UNCOUPLED, "fees"),
)
"""Each switch of the audit's model to check: dropping the weekday a date and an hour of the
week share, and the per-transaction amount limits (an amount band's, a fixed fee's) that
couple counts and amounts, whose loss also makes the audit treat them apart."""


def recovered_when_weakened(
    monkeypatch: pytest.MonkeyPatch, weakening: Weakening
) -> dict[str, int]:
    """Protect the weakening's scenario with the switch off; what the attacker recovers."""
    module, _, path = weakening.target.partition(":")
    # The module itself: a package may export a function of the module's name.
    owner: object = importlib.import_module(module)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    monkeypatch.setattr(owner, attribute, weakening.value)
    if attribute == "secondary_flags":
        # With no secondary suppression the audit's own widening would still protect the
        # cell: switch it off too, so that only primary suppression is left.
        monkeypatch.setattr(importlib.import_module(module), "audit_flags", _no_audit)
    try:
        done, _ = protect(SCENARIOS[weakening.scenario]())
    except DisclosureError as error:
        pytest.fail(f"the weakened audit refused the scenario: {error}")
    return attack_protected(done)


@pytest.mark.parametrize("weakening", WEAKENINGS, ids=[w.name for w in WEAKENINGS])
def test_a_weakened_audit_lets_the_attacker_recover(
    monkeypatch: pytest.MonkeyPatch, weakening: Weakening
) -> None:
    assert recovered_when_weakened(monkeypatch, weakening) != {}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_scenarios_are_safe_with_the_whole_model(scenario: str) -> None:
    # The other half of a weakening test: the same release, fully audited, leaks nothing.
    done = protected(SCENARIOS[scenario](), note=False)
    assert done is not None
    assert attack_protected(done) == {}


def test_a_table_that_no_suppression_protects_is_named() -> None:
    # The year's total is published exactly (a protected headline table) and the companies'
    # band is bounded by its limits and the individuals' band: hiding every band cell still
    # leaves the companies' amount within p %. The library names the table to withhold.
    tables = _scenario({1: 2, 2: 18}, ["annual", "amount-bands"], companies=(9_000.0, 6_000.0))
    with pytest.raises(Unprotectable) as refused:
        protect(tables)
    assert refused.value.table == "amount-bands"
