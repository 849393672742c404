"""One builder per dataset of the catalog (its ``builder:`` key).

A builder turns the analytic rows into cells with the statistics that disclosure control
needs, and says how its additive measures link to other tables. Derived measures (growth,
shares, rates, the maturity index) are computed by ``finish`` after suppression, from the
cells' true values, and are then emptied with every other measure of a suppressed cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from bawaba.catalog import Dataset
from bawaba.disclosure import PER_TRANSACTION_HIGH, PER_TRANSACTION_LOW
from bawaba.publish.cells import AMOUNT, cube, per_payer, with_contributor_tops
from bawaba.publish.coordinates import TIME_HIERARCHY
from bawaba.publish.populations import Population, rows_of
from bawaba.publish.rows import streamed
from bawaba.reference import Reference
from bawaba.reference.bands import BOUNDS_AED, band_of

Finish = Callable[[pl.DataFrame], pl.DataFrame]


def _identity(cells: pl.DataFrame) -> pl.DataFrame:
    return cells


@dataclass(frozen=True)
class Built:
    """A dataset's cells before suppression, and what the audit needs to know of them."""

    cells: pl.DataFrame
    keys: tuple[str, ...]
    """The columns that identify a cell (the dataset's time and dimension fields)."""
    quantities: dict[str, str]
    """Audited quantity (``<population>:count|amount``) -> measure column."""
    restriction: dict[str, str] = field(default_factory=dict)
    finish: Finish = _identity
    payers_from: Population = "epay_success"
    """The population whose distinct payers a cell counts (and k applies to)."""
    contributors: tuple[str, ...] = ()
    """Contributors besides payers whose sums ``cells`` carries for the p% rule (banks)."""
    sub_payers: dict[str, str] = field(default_factory=dict)
    """Sub-populations counted in a cell -> the column of their distinct payers (k)."""
    across: Finish = _identity
    """Derived measures that compare periods, computed on the whole published table (every
    period's rows, suppression applied), since each period is built on its own."""

    @property
    def coordinates(self) -> tuple[str, ...]:
        """The keys and every coarser coordinate they imply (month -> quarter, year; a
        service -> its department)."""
        implied = [c for key in self.keys for c in TIME_HIERARCHY.get(key, (key,))]
        return tuple(dict.fromkeys(implied))


@dataclass(frozen=True)
class Context:
    store: pl.LazyFrame
    """Analytic rows with time coordinates (``coordinates.with_time``) and folded services,
    lazily: a period's rows of some departments (``publish.partitions``), read by
    ``rows.streamed``."""
    reference: Reference
    dataset: Dataset
    first_quarters: pl.LazyFrame | None = None
    """Each (``department``, ``payer_id``)'s first quarter (``first``, ``YYYY-Qn``) with a
    successful e-payment over every period, when ``store`` holds only some periods."""


def _epay_cube(
    ctx: Context,
    keys: tuple[str, ...],
    population: Population = "epay_success",
) -> Built:
    rows = rows_of(ctx.store, population)
    # Banks are organisations (PRIVACY.md S1): a cell over direct debits from several banks
    # must not let one bank estimate another's collections.
    cells = streamed(with_contributor_tops(cube(rows, keys), rows, keys, "bank"))
    return Built(
        cells,
        keys,
        {f"{population}:count": "transactions", f"{population}:amount": AMOUNT},
        contributors=("bank",),
    )


def _with_limits(built: Built, low: pl.Expr, high: pl.Expr) -> Built:
    """``built`` with the amount limits per transaction a reader knows of each cell."""
    cells = built.cells.with_columns(
        low.cast(pl.Float64).alias(PER_TRANSACTION_LOW),
        high.cast(pl.Float64).alias(PER_TRANSACTION_HIGH),
    )
    return dataclasses.replace(built, cells=cells)


def epay_monthly(ctx: Context) -> Built:
    return _epay_cube(ctx, ("month", "department", "channel"))


def epay_payment_methods(ctx: Context) -> Built:
    return _epay_cube(ctx, ("month", "department", "payment_method"))


def epay_amount_bands(ctx: Context) -> Built:
    built = _epay_cube(ctx, ("quarter", "department", "amount_band"))
    codes = [b.code for b in ctx.reference.amount_bands]
    lows = [0, *BOUNDS_AED]
    highs: list[float | None] = [*BOUNDS_AED, None]
    band = pl.col("amount_band").cast(pl.String)
    return _with_limits(
        built,
        band.replace_strict(codes, lows, return_dtype=pl.Float64),
        band.replace_strict(codes, highs, return_dtype=pl.Float64),
    )


def epay_hourly_profile(ctx: Context) -> Built:
    return _epay_cube(ctx, ("year", "hour_of_week", "department"))


def epay_daily(ctx: Context) -> Built:
    return _epay_cube(ctx, ("date", "department"))


def epay_monthly_service(ctx: Context) -> Built:
    built = _epay_cube(ctx, ("month", "department", "service"))
    # A fixed fee is public (any published cell of the service shows it): such a cell's
    # amount is the fee times its transactions. A folded service mixes fees: no limit.
    fees = {s.code: s.fee_aed for d in ctx.reference.departments for s in d.services}
    fixed = {code: fee for code, fee in fees.items() if fee is not None}
    fee = (
        pl.col("service")
        .cast(pl.String)
        .replace_strict(fixed, default=None, return_dtype=pl.Float64)
    )
    return _with_limits(built, fee, fee)


def epay_direct_debit_banks(ctx: Context) -> Built:
    keys = ("month", "department", "bank")
    rows = rows_of(ctx.store, "epay_success").filter(pl.col("payment_method") == "direct_debit")
    cells = streamed(cube(rows, keys)).with_columns(pl.lit("direct_debit").alias("payment_method"))
    return Built(
        cells,
        keys,
        {"epay_success:count": "transactions", "epay_success:amount": AMOUNT},
        restriction={"payment_method": "direct_debit"},
    )


def _pct(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then((part.cast(pl.Float64) / whole * 100).round(2))


GROWTH = ("transactions_growth_pct", "amount_growth_pct")


def epay_annual(ctx: Context) -> Built:
    built = _epay_cube(ctx, ("year", "department"))

    def finish(cells: pl.DataFrame) -> pl.DataFrame:
        # Growth compares with the year before, which another year's build holds: it is
        # filled in over the whole table by ``across``.
        return cells.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in GROWTH)

    return dataclasses.replace(built, finish=finish, across=_growth)


def _growth(table: pl.DataFrame) -> pl.DataFrame:
    """Growth on the year before, between two published cells only: growth on a suppressed
    year would let anyone recover it from the year it is compared with. Published cells
    carry their true values, so this is the growth of the true values."""
    previous = table.select(
        (pl.col("year") + 1).alias("year"),
        "department",
        pl.col("transactions").alias("_prev_n"),
        pl.col(AMOUNT).alias("_prev_amount"),
        pl.col("suppressed").alias("_prev_suppressed"),
    )
    joined = table.join(previous, on=["year", "department"], how="left", maintain_order="left")
    comparable = ~pl.col("suppressed") & pl.col("_prev_suppressed").not_().fill_null(False)

    def growth(now: str, before: str) -> pl.Expr:
        return pl.when(comparable).then(_pct(pl.col(now) - pl.col(before), pl.col(before)))

    return joined.with_columns(
        growth("transactions", "_prev_n").alias(GROWTH[0]),
        growth(AMOUNT, "_prev_amount").alias(GROWTH[1]),
    ).select(table.columns)


def _payers_of(condition: pl.Expr) -> pl.Expr:
    """Distinct payers among a cell's rows that meet ``condition``."""
    return pl.col("payer_id").filter(condition).n_unique().cast(pl.Int64)


def _two_populations(ctx: Context, keys: tuple[str, ...]) -> pl.DataFrame:
    """Electronic and counter successful payments per cell, payers over both and of each."""
    rows = rows_of(ctx.store, "all_success")
    electronic = pl.col("electronic")
    return streamed(
        rows.group_by(*keys).agg(
            electronic.sum().cast(pl.Int64).alias("electronic_transactions"),
            (~electronic).sum().cast(pl.Int64).alias("counter_transactions"),
            pl.col("payer_id").n_unique().cast(pl.Int64).alias("payers"),
            _payers_of(electronic).alias("_electronic_payers"),
            _payers_of(~electronic).alias("_counter_payers"),
        )
    )


_ADOPTION_PAYERS = {
    "electronic_transactions": "_electronic_payers",
    "counter_transactions": "_counter_payers",
}


def eservice_adoption(ctx: Context) -> Built:
    keys = ("quarter", "department")

    def finish(cells: pl.DataFrame) -> pl.DataFrame:
        e, c = pl.col("electronic_transactions"), pl.col("counter_transactions")
        return cells.with_columns(_pct(e, e + c).alias("adoption_pct"))

    return Built(
        _two_populations(ctx, keys),
        keys,
        {
            "epay_success:count": "electronic_transactions",
            "counter_success:count": "counter_transactions",
        },
        finish=finish,
        payers_from="all_success",
        sub_payers=_ADOPTION_PAYERS,
    )


def service_maturity(ctx: Context) -> Built:
    keys = ("year", "department")
    rows = rows_of(ctx.store, "maturity")
    electronic = pl.col("electronic")
    success = pl.col("status") == "success"
    cells = streamed(
        rows.group_by(*keys)
        .agg(
            pl.col("payer_id").n_unique().cast(pl.Int64).alias("payers"),
            (success & electronic).sum().alias("_e"),
            (success & ~electronic).sum().alias("_c"),
            pl.col("rating").filter(success).mean().alias("satisfaction_score"),
            (~success & electronic).sum().alias("_failed"),
            electronic.sum().cast(pl.Int64).alias("_attempts"),
            _payers_of(success & electronic).alias("_electronic_payers"),
            _payers_of(success & ~electronic).alias("_counter_payers"),
            _payers_of(~success & electronic).alias("_failed_payers"),
        )
        .with_columns(pl.col("_e", "_c").cast(pl.Int64))
    )
    online = pl.DataFrame(
        {
            "department": [d.code for d in ctx.reference.departments],
            "services_online_pct": [
                round(100 * sum(s.online for s in d.services) / len(d.services), 2)
                for d in ctx.reference.departments
            ],
        }
    )
    weights = ctx.dataset.weights or {}

    def finish(built: pl.DataFrame) -> pl.DataFrame:
        scored = built.join(online, on="department", how="left").with_columns(
            _pct(pl.col("_e"), pl.col("_e") + pl.col("_c")).alias("adoption_pct"),
            _pct(pl.col("_failed"), pl.col("_attempts")).alias("failure_rate_pct"),
            pl.col("satisfaction_score").round(2),
        )
        scaled = {
            "services_online_pct": pl.col("services_online_pct"),
            "adoption_pct": pl.col("adoption_pct"),
            "satisfaction_score": (pl.col("satisfaction_score") - 1) / 4 * 100,
            "failure_rate_pct": 100 - pl.col("failure_rate_pct"),
        }
        index = pl.sum_horizontal(scaled[m] * w for m, w in sorted(weights.items()))
        return scored.with_columns(index.round(1).alias("maturity_index")).drop(
            "_e", "_c", "_failed", "_attempts"
        )

    # Its rates, with epay-annual's transactions, give a reader each department's annual
    # e-channel attempts and counter payments to within their rounding: the audit takes
    # them as published exactly.
    return Built(
        cells,
        keys,
        {
            "epay_success:count": "_e",
            "counter_success:count": "_c",
            "epay_attempts:count": "_attempts",
        },
        finish=finish,
        payers_from="maturity",
        sub_payers={
            "electronic payments": "_electronic_payers",
            "counter payments": "_counter_payers",
            "failed e-payments": "_failed_payers",
        },
    )


def first_quarters(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Each (department, payer)'s first quarter (``YYYY-Qn`` text, which sorts as the
    calendar does) with a successful e-payment among ``rows`` (with ``txn_date``), as
    ``first``."""
    day = pl.col("_day")
    return (
        rows_of(rows, "epay_success")
        .group_by(pl.col("department").cast(pl.String), "payer_id")
        .agg(pl.col("txn_date").min().alias("_day"))
        .select(
            "department",
            "payer_id",
            (day.dt.year().cast(pl.String) + "-Q" + day.dt.quarter().cast(pl.String)).alias(
                "first"
            ),
        )
    )


def payer_mix(ctx: Context) -> Built:
    keys = ("quarter", "department", "payer_type")
    # Each payer's rows per cell, once: the cells count them, and a payer's cell rows also
    # say whether the payer had paid the department in an earlier quarter (quarters are an
    # enum in calendar order).
    rows = rows_of(ctx.store, "epay_success")
    payers = streamed(per_payer(rows, keys)).lazy()
    first = ctx.first_quarters if ctx.first_quarters is not None else first_quarters(ctx.store)
    repeat = (
        payers.join(
            first,
            left_on=[pl.col("department").cast(pl.String), "payer_id"],
            right_on=["department", "payer_id"],
        )
        .filter(pl.col("quarter").cast(pl.String) > pl.col("first"))
        .group_by(*keys)
        .agg(pl.len().alias("_repeat"))
    )
    cells = streamed(
        with_contributor_tops(
            cube(payers, keys, per_payer_rows=True)
            .join(repeat, on=list(keys), how="left")
            .with_columns(pl.col("_repeat").fill_null(0).cast(pl.Int64))
            .with_columns((pl.col("payers") - pl.col("_repeat")).alias("_new")),
            rows,
            keys,
            "bank",
        )
    )

    def finish(built: pl.DataFrame) -> pl.DataFrame:
        return built.with_columns(
            _pct(pl.col("_repeat"), pl.col("payers")).alias("repeat_payer_pct")
        ).drop("_repeat", "_new")

    return Built(
        cells,
        keys,
        {"epay_success:count": "transactions", "epay_success:amount": AMOUNT},
        finish=finish,
        contributors=("bank",),
        # The repeat share splits a cell's payers in two: each part is a population.
        sub_payers={"repeat payers": "_repeat", "new payers": "_new"},
    )


def service_performance(ctx: Context) -> Built:
    keys = ("month", "department", "service")
    attempts = rows_of(ctx.store, "epay_attempts")
    success = pl.col("status") == "success"
    cells = streamed(
        attempts.group_by(keys).agg(
            pl.len().cast(pl.Int64).alias("attempts"),
            success.sum().cast(pl.Int64).alias("payments"),
            pl.col("payer_id").n_unique().cast(pl.Int64).alias("payers"),
            _payers_of(success).alias("_paying_payers"),
            _payers_of(~success).alias("_failing_payers"),
        )
    )

    def finish(built: pl.DataFrame) -> pl.DataFrame:
        return built.with_columns(
            _pct(pl.col("attempts") - pl.col("payments"), pl.col("attempts")).alias(
                "failure_rate_pct"
            ),
        )

    # Refunds are not published at this grain: in about half of its cells they come from
    # fewer than k payers, and no suppression pattern at an acceptable loss hides them.
    return Built(
        cells,
        keys,
        {"epay_attempts:count": "attempts", "epay_success:count": "payments"},
        finish=finish,
        payers_from="epay_attempts",
        sub_payers={"payments": "_paying_payers", "failures": "_failing_payers"},
    )


def eservice_catalog(ctx: Context) -> Built:
    rows = [
        {
            "department": dept.code,
            "service": s.code,
            "service_category": s.category,
            "online": s.online,
            "channels": ",".join(s.channels),
            "fee_type": "fixed" if s.fee_aed is not None else "variable",
            "fee_band": band_of(s.typical_aed),
        }
        for dept in ctx.reference.departments
        for s in dept.services
    ]
    return Built(pl.DataFrame(rows), ("department", "service"), {})


BUILDERS: dict[str, Callable[[Context], Built]] = {
    f.__name__: f
    for f in (
        epay_annual,
        epay_monthly,
        epay_payment_methods,
        eservice_adoption,
        service_maturity,
        eservice_catalog,
        epay_daily,
        epay_monthly_service,
        epay_direct_debit_banks,
        epay_hourly_profile,
        epay_amount_bands,
        payer_mix,
        service_performance,
    )
}
