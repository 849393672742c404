"""Disclosure control (PRIVACY.md S2): golden examples and adversarial scenarios.

Tables here are built from explicit transactions by :func:`build_table`, a tiny builder
independent of the platform's own, so every figure below can be checked by hand.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl
import pytest
from numpy.typing import NDArray

from bawaba.disclosure import (
    SUPPRESSED,
    AuditTable,
    DisclosureError,
    Linkage,
    audit,
    cycle,
    link,
    primary,
    protect,
    redact,
    relation,
    secondary,
    sensitive_share,
    unsafe_groups,
)
from bawaba.disclosure.audit import (
    AuditJob,
    Cache,
    JobAudit,
    QuantityAudit,
    audit_flags,
    audit_job,
)
from bawaba.disclosure.intervals import Binding, width
from bawaba.disclosure.model import PUBLISHED_BEFORE

QUANTITIES = {"pay:count": "transactions", "pay:amount": "amount_aed"}
DERIVED = {"month": ("month", "quarter", "year"), "quarter": ("quarter", "year")}
MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06")

Row = tuple[int, str, str, str, str, float]
"""payer, department, month, channel, payment method, amount."""
ROW_COLUMNS = ("payer", "department", "month", "channel", "payment_method", "amount")


def transactions(rows: Iterable[Row]) -> pl.DataFrame:
    """Microdata with the time coordinates a month implies."""
    frame = pl.DataFrame(
        list(rows),
        schema={
            "payer": pl.Int64,
            "department": pl.String,
            "month": pl.String,
            "channel": pl.String,
            "payment_method": pl.String,
            "amount": pl.Float64,
        },
        orient="row",
    )
    month = pl.col("month").str.slice(5, 2).cast(pl.Int32)
    return frame.with_columns(
        quarter=pl.col("month").str.slice(0, 4) + "-Q" + ((month - 1) // 3 + 1).cast(pl.String),
        year=pl.col("month").str.slice(0, 4),
    )


def coordinates_of(keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for key in keys for c in DERIVED.get(key, (key,))))


def build_table(
    name: str,
    rows: pl.DataFrame,
    keys: Sequence[str],
    *,
    k: int = 10,
    restriction: Mapping[str, str] | None = None,
    protected: bool = False,
) -> AuditTable:
    """A cell table of ``rows`` by ``keys``: transactions, amounts, payers, top-2 payers."""
    restriction = dict(restriction or {})
    for column, value in restriction.items():
        rows = rows.filter(pl.col(column) == value)
    coordinates = coordinates_of(keys)
    per_payer = rows.group_by([*coordinates, "payer"]).agg(n=pl.len(), s=pl.col("amount").sum())
    cells = (
        per_payer.group_by(coordinates)
        .agg(
            transactions=pl.col("n").sum(),
            payers=pl.len(),
            amount_aed=pl.col("s").sum(),
            amount_aed_top1=pl.col("s").max(),
            amount_aed_top2=pl.col("s").sort(descending=True).slice(1, 1).first(),
        )
        .with_columns(pl.col("amount_aed_top2").fill_null(0.0))
        .sort(coordinates)
    )
    return AuditTable(name, cells, coordinates, QUANTITIES, restriction, k, 15.0, protected)


def cells(table: AuditTable, **where: str) -> pl.DataFrame:
    frame = table.cells
    for column, value in where.items():
        frame = frame.filter(pl.col(column) == value)
    return frame


def is_suppressed(table: AuditTable, **where: str) -> bool:
    flags = cells(table, **where).get_column(SUPPRESSED)
    assert flags.len() == 1, where
    return bool(flags[0])


def by_name(tables: Sequence[AuditTable]) -> dict[str, AuditTable]:
    return {t.name: t for t in tables}


def payers(
    n: int, *, department: str, month: str, start: int = 0, amount: float = 100.0, **rest: str
) -> list[Row]:
    """``n`` distinct payers, one transaction each."""
    channel = rest.get("channel", "web")
    method = rest.get("payment_method", "card")
    return [(start + i, department, month, channel, method, amount) for i in range(n)]


# -- primary -----------------------------------------------------------------------------


def _one_cell(per_payer: Sequence[float], *, k: int = 10) -> AuditTable:
    rows = [(i, "RTA", "2024-01", "web", "card", a) for i, a in enumerate(per_payer)]
    return build_table("t", transactions(rows), ("month", "department"), k=k)


def test_k_boundary_is_exact() -> None:
    assert not is_suppressed(primary(_one_cell([100.0] * 10)), department="RTA")
    assert is_suppressed(primary(_one_cell([100.0] * 9)), department="RTA")
    assert not is_suppressed(primary(_one_cell([100.0] * 5, k=5)), department="RTA")
    assert is_suppressed(primary(_one_cell([100.0] * 4, k=5)), department="RTA")


def test_p_percent_boundary_is_exact() -> None:
    # x1 = 100, x2 = 15, the rest 15 in 8 payers: X - x1 - x2 = 15 = 15 % of 100 -> safe.
    rest = [15.0 / 8] * 8
    assert not is_suppressed(primary(_one_cell([100.0, 15.0, *rest])), department="RTA")
    # One fil less for the rest: below 15 % -> sensitive.
    rest = [14.99 / 8] * 8
    assert is_suppressed(primary(_one_cell([100.0, 15.0, *rest])), department="RTA")


def test_a_company_dominating_a_cell_is_sensitive_with_many_payers() -> None:
    company = 2_000_000.0
    table = _one_cell([company, *([50.0] * 40)])
    assert table.cells.get_column("payers")[0] == 41
    assert is_suppressed(primary(table), department="RTA")


def test_a_company_is_one_payer_however_many_transactions() -> None:
    # 30 branch payments by one company and 9 individuals: 10 payers, not 39.
    rows = [(1, "RTA", "2024-01", "web", "card", 20.0)] * 30
    rows += [(i, "RTA", "2024-01", "web", "card", 10.0) for i in range(2, 11)]
    table = build_table("t", transactions(rows), ("month", "department"))
    assert table.cells.get_column("payers")[0] == 10
    assert table.cells.get_column("amount_aed_top1")[0] == 600.0
    # p%: 690 - 600 - 10 = 80 left, less than 15 % of 600 = 90.
    assert is_suppressed(primary(table), department="RTA")


def test_primary_keeps_earlier_suppressions() -> None:
    table = _one_cell([100.0] * 20)
    flagged = table.with_suppressed(pl.Series([True]))
    assert is_suppressed(primary(flagged), department="RTA")


def test_sensitive_share() -> None:
    rows = payers(10, department="A", month="2024-01")
    rows += payers(3, department="B", month="2024-01")
    rows += payers(10, department="C", month="2024-01") + payers(
        10, department="D", month="2024-01"
    )
    table = build_table("t", transactions(rows), ("month", "department"))
    assert sensitive_share(table) == 0.25
    empty = AuditTable("e", table.cells.clear(), table.coordinates, QUANTITIES)
    assert sensitive_share(empty) == 0.0


# -- relations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "on", "within"),
    [
        # A monthly and an annual table meet on year and department.
        (
            (("month", "department"), {}),
            (("year", "department"), {}),
            ("department", "year"),
            False,
        ),
        # A direct-debit table is compared with the direct-debit slice of a by-method table.
        (
            (("month", "department"), {"payment_method": "dd"}),
            (("month", "payment_method"), {}),
            ("month", "payment_method", "quarter", "year"),
            False,
        ),
        # Two direct-debit tables share their restriction.
        (
            (("month", "department"), {"payment_method": "dd"}),
            (("quarter",), {"payment_method": "dd"}),
            ("payment_method", "quarter", "year"),
            False,
        ),
        # A table that cannot select direct debit holds at least the direct-debit table.
        (
            (("month", "department"), {"payment_method": "dd"}),
            (("year", "department"), {}),
            ("department", "year"),
            True,
        ),
        # Disjoint slices.
        (
            (("month",), {"payment_method": "dd"}),
            (("month",), {"payment_method": "card"}),
            None,
            False,
        ),
    ],
)
def test_relation_rules(
    a: tuple[Sequence[str], dict[str, str]],
    b: tuple[Sequence[str], dict[str, str]],
    on: tuple[str, ...] | None,
    within: bool,
) -> None:
    rows = transactions(
        payers(12, department="A", month="2024-01", payment_method="dd")
        + payers(12, department="A", month="2024-01", payment_method="card", start=50)
    )
    ta = build_table("a", rows, a[0], restriction=a[1])
    tb = build_table("b", rows, b[0], restriction=b[1])
    for found in (relation(ta, tb), relation(tb, ta)):
        assert (found.on if found else None) == on
        if found is not None:
            assert found.within is within
            assert (found.left, found.right) == ("a", "b")


def test_an_upper_bound_from_a_wider_table_is_audited() -> None:
    # No table shows the payment method, so the direct-debit table is only known to be a
    # part of the table of all payments. Kiosk, January: 4 payments in all (published), 2
    # of them by direct debit (hidden: 2 payers). A reader knows the hidden cell is in
    # [1, 4]: wide enough for k = 3, not for k = 5.
    rows = payers(5, department="A", month="2024-01", channel="web", payment_method="dd")
    rows += payers(
        2, department="A", month="2024-01", channel="kiosk", payment_method="dd", start=10
    )
    rows += payers(2, department="A", month="2024-01", channel="kiosk", start=20)
    frame = transactions(rows)
    keys = ("month", "department", "channel")
    dd = build_table("dd", frame, keys, k=3, restriction={"payment_method": "dd"})
    total = build_table("total", frame, keys, k=3)
    [found] = link([primary(dd), primary(total)]).relations
    assert found.within
    assert audit([primary(dd), primary(total)]).ok
    report = audit([primary(dataclasses.replace(dd, k=5)), primary(total)])
    assert [(f.table, dict(f.coordinates)["channel"], f.quantity) for f in report.failures] == [
        ("dd", "kiosk", "pay:count")
    ]


def test_tables_that_do_not_add_up_are_refused() -> None:
    # An undeclared restriction: the "dd" table covers direct debit only but says nothing.
    rows = transactions(
        payers(12, department="A", month="2024-01", payment_method="dd")
        + payers(12, department="A", month="2024-01", payment_method="card", start=50)
    )
    hidden_slice = build_table("dd", rows.filter(pl.col("payment_method") == "dd"), ("month",))
    total = build_table("all", rows, ("year",))
    with pytest.raises(DisclosureError, match="do not add up"):
        protect([hidden_slice, total])


def _cycle_rows() -> pl.DataFrame:
    """The smallest case Hypothesis found where three tables say more than any two.

    B's transactions: 3 by web in Q1, and some by kiosk in Q2. Q1 has no direct debit at
    all, and Q2's kiosk payments are all direct debit. So B paid by card exactly 3 times,
    which no pair of the three tables below gives away.
    """
    rows: list[Row] = [(0, "A", "2024-01", "web", "card", 5.0)] * 10
    rows += [(0, "A", "2024-01", "kiosk", "card", 5.0), (1, "A", "2024-01", "kiosk", "card", 5.0)]
    rows += [(1, "A", "2024-04", "web", "card", 5.0), (1, "A", "2024-04", "kiosk", "dd", 5.0)]
    rows += [(i, "B", "2024-01", "web", "card", 5.0) for i in range(3)]
    rows += [(0, "B", "2024-04", "kiosk", "dd", 5.0)]
    rows += [(1, "C", "2024-01", "web", "card", 5.0), (0, "C", "2024-04", "web", "card", 5.0)]
    return transactions(rows)


def test_tables_crossing_in_a_cycle_are_refused() -> None:
    frame = _cycle_rows()
    tables = [
        build_table("dept-channel", frame, ("quarter", "department", "channel"), k=2),
        build_table("dept-method", frame, ("year", "department", "payment_method"), k=2),
        build_table("channel-method", frame, ("quarter", "channel", "payment_method"), k=2),
    ]
    assert cycle(tables) == ("channel-method", "dept-channel", "dept-method")
    with pytest.raises(DisclosureError, match="cycle"):
        protect(tables)
    # Any two of them, or all three beside a table crossing all three dimensions, are fine.
    assert cycle(tables[:2]) == cycle(tables[1:]) == ()
    full = build_table("all", frame, ("quarter", "department", "channel", "payment_method"))
    assert cycle([*tables, full]) == ()


def test_a_restriction_counts_as_a_coordinate_in_a_cycle() -> None:
    # Direct debit by quarter and department, all payments by month and department and by
    # month and payment method: department - payment method - month is a cycle.
    frame = _cycle_rows()
    tables = [
        build_table("dd", frame, ("quarter", "department"), restriction={"payment_method": "dd"}),
        build_table("monthly", frame, ("month", "department")),
        build_table("methods", frame, ("month", "payment_method")),
    ]
    assert cycle(tables) == ("dd", "methods", "monthly")
    tables[2] = build_table("methods", frame, ("month", "department", "payment_method"))
    assert cycle(tables) == ()


# -- secondary ---------------------------------------------------------------------------


def _monthly_and_annual(small: int) -> tuple[AuditTable, AuditTable]:
    """Department A: six months of 20, 30, ... payers, except March with ``small``."""
    rows: list[Row] = []
    start = 0
    for i, month in enumerate(MONTHS):
        n = small if month == "2024-03" else 20 + 10 * i
        rows += payers(n, department="A", month=month, start=start)
        start += n
    rows += payers(40, department="B", month="2024-01", start=1000)
    frame = transactions(rows)
    monthly = build_table("monthly", frame, ("month", "department"))
    annual = build_table("annual", frame, ("year", "department"), protected=True)
    return monthly, annual


def test_a_hidden_month_is_not_left_recoverable_from_the_annual_total() -> None:
    monthly, annual = _monthly_and_annual(small=4)
    first = by_name(secondary([primary(monthly), primary(annual)]))
    hidden = cells(first["monthly"]).filter(pl.col(SUPPRESSED))
    # March is sensitive; January (20 payers, the smallest other month) hides it.
    assert sorted(hidden.get_column("month")) == ["2024-01", "2024-03"]
    assert not first["annual"].suppressed.any()


def test_without_secondary_suppression_the_audit_fails() -> None:
    monthly, annual = _monthly_and_annual(small=4)
    report = audit([primary(monthly), primary(annual)])
    assert not report.ok
    [failure, *_] = report.failures
    assert failure.table == "monthly"
    assert dict(failure.coordinates)["month"] == "2024-03"


def test_a_pair_of_single_payer_cells_is_not_enough() -> None:
    # Two months with one payer each: each payer subtracts their own payment.
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        n = 1 if month in ("2024-02", "2024-03") else 20 + 10 * i
        rows += payers(n, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    monthly = primary(build_table("monthly", frame, ("month", "department")))
    annual = primary(build_table("annual", frame, ("year", "department"), protected=True))
    linkage = link([monthly, annual])
    assert unsafe_groups(linkage, linkage.flags()).sum() == 1
    done = by_name(secondary([monthly, annual]))
    assert done["monthly"].suppressed.sum() == 3


def test_a_single_payer_beside_one_other_hidden_cell_is_not_enough() -> None:
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        n = {"2024-02": 1, "2024-03": 4}.get(month, 20 + 10 * i)
        rows += payers(n, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    monthly = primary(build_table("monthly", frame, ("month", "department")))
    annual = primary(build_table("annual", frame, ("year", "department"), protected=True))
    done = by_name(secondary([monthly, annual]))
    assert done["monthly"].suppressed.sum() == 3


def test_ties_are_broken_by_table_name_then_coordinates() -> None:
    # Every other month has 20 payers: the first month in order is chosen.
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        rows += payers(3 if month == "2024-04" else 20, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    done = by_name(
        secondary(
            [
                primary(build_table("monthly", frame, ("month", "department"))),
                primary(build_table("annual", frame, ("year", "department"), protected=True)),
            ]
        )
    )
    hidden = cells(done["monthly"]).filter(pl.col(SUPPRESSED)).get_column("month")
    assert hidden.to_list() == ["2024-01", "2024-04"]


# -- earlier versions --------------------------------------------------------------------


def _published_before(table: AuditTable, months: Sequence[str]) -> AuditTable:
    """``table`` with the cells of ``months`` published by an earlier version."""
    before = pl.col("month").is_in(list(months))
    return dataclasses.replace(
        table, cells=table.cells.with_columns(before.alias(PUBLISHED_BEFORE))
    )


def _a_year_ending_in_a_small_month() -> tuple[AuditTable, AuditTable]:
    """Department A: five months of 20 payers, then June with 3; B: 40 in January."""
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        rows += payers(3 if month == "2024-06" else 20, department="A", month=month, start=100 * i)
    rows += payers(40, department="B", month="2024-01", start=1000)
    frame = transactions(rows)
    monthly = build_table("monthly", frame, ("month", "department"))
    annual = build_table("annual", frame, ("year", "department"), protected=True)
    return monthly, annual


def test_a_new_year_total_beside_months_published_before_is_hidden_for_a_new_month() -> None:
    # January to May were published; June is new and sensitive. The year's total minus the
    # five published months is June: only hiding the (new) total protects it.
    monthly, annual = _a_year_ending_in_a_small_month()
    tables, report = protect([_published_before(monthly, MONTHS[:5]), annual])
    done = by_name(tables)
    assert report.ok
    assert is_suppressed(done["monthly"], month="2024-06", department="A")
    assert (
        not cells(done["monthly"], department="A")
        .filter(pl.col("month") != "2024-06")
        .get_column(SUPPRESSED)
        .any()
    )
    assert is_suppressed(done["annual"], department="A")
    assert not is_suppressed(done["annual"], department="B")


def test_in_a_first_release_a_month_is_hidden_for_another_not_the_year_total() -> None:
    monthly, annual = _a_year_ending_in_a_small_month()
    done = by_name(protect([monthly, annual])[0])
    assert is_suppressed(done["monthly"], month="2024-06", department="A")
    assert cells(done["monthly"], department="A").get_column(SUPPRESSED).sum() == 2
    assert not done["annual"].suppressed.any()


def test_a_version_that_stops_early_adds_up_only_over_the_periods_it_covers() -> None:
    # A quarterly table withheld now whose public version holds Q1 only: a reader has Q1,
    # which is the sum of January to March, and says nothing of the year.
    monthly, annual = _a_year_ending_in_a_small_month()
    quarterly = build_table(
        "quarterly",
        transactions(
            [
                r
                for i, m in enumerate(MONTHS)
                for r in payers(20, department="A", month=m, start=100 * i)
            ]
        ),
        ("quarter", "department"),
    )
    earlier = dataclasses.replace(
        quarterly,
        cells=quarterly.cells.filter(pl.col("quarter") == "2024-Q1").with_columns(
            pl.lit(value=True).alias(PUBLISHED_BEFORE)
        ),
        protected=True,
        as_published=True,
        covers_until=202403,
    )
    linkage = link([monthly, annual, earlier])
    by_relation: dict[tuple[str, str], int] = {}
    for g in range(linkage.n_groups):
        rel = linkage.relations[int(linkage.group_relation[g])]
        by_relation[(rel.left, rel.right)] = by_relation.get((rel.left, rel.right), 0) + 1
    assert ("annual", "quarterly") not in by_relation
    assert by_relation[("monthly", "quarterly")] == 1  # 2024-Q1, department A
    assert by_relation[("annual", "monthly")] == 2  # departments A and B


def test_a_version_as_published_keeps_its_suppression() -> None:
    # A cell it published stays published in the audit however few payers it has now.
    monthly, _ = _a_year_ending_in_a_small_month()
    earlier = dataclasses.replace(
        monthly,
        cells=monthly.cells.with_columns(pl.lit(value=False).alias(SUPPRESSED)),
        protected=True,
        as_published=True,
    )
    assert not primary(earlier).suppressed.any()
    assert primary(monthly).suppressed.sum() == 1


# -- audit -------------------------------------------------------------------------------


def test_the_audit_widens_a_pair_of_small_hidden_counts() -> None:
    # March (4) and May (3) are hidden; the annual total gives March + May = 7, so March is
    # in [1, 6]: 5 possible values, fewer than k = 10. A third month must go.
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        n = {"2024-03": 4, "2024-05": 3}.get(month, 20 + 10 * i)
        rows += payers(n, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    monthly = build_table("monthly", frame, ("month", "department"))
    annual = build_table("annual", frame, ("year", "department"), protected=True)
    first = secondary([primary(monthly), primary(annual)])
    assert first[0].suppressed.sum() == 2  # the heuristic is satisfied...
    assert not audit(first).ok  # ...the audit is not
    done, report = protect([monthly, annual])
    assert report.ok
    assert by_name(done)["monthly"].suppressed.sum() == 3
    assert report.rows.height == 3 * 2  # three cells, two quantities


def test_a_published_row_holds_at_least_one_transaction() -> None:
    # March (5) and May (6) are hidden and add up to 11. A reader knows each is at least 1,
    # so March is in [1, 10]: 10 values, a width of 9 < k. (Were a row allowed to be 0,
    # [0, 11] would look wide enough.)
    rows: list[Row] = []
    for i, month in enumerate(MONTHS):
        n = {"2024-03": 5, "2024-05": 6}.get(month, 20 + 10 * i)
        rows += payers(n, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    monthly = build_table("monthly", frame, ("month", "department"))
    annual = build_table("annual", frame, ("year", "department"), protected=True)
    assert not audit(secondary([primary(monthly), primary(annual)])).ok
    done, _ = protect([monthly, annual])
    assert by_name(done)["monthly"].suppressed.sum() == 3


def test_no_count_is_assumed_positive_in_a_table_mixing_populations() -> None:
    # A cell of a table of attempts and payments exists when there was an attempt; it may
    # hold no payment at all.
    table = _one_cell([100.0] * 10)
    mixed = dataclasses.replace(
        table, quantities={"tries:count": "transactions", "pay:amount": "amount_aed"}
    )
    assert table.existence_population == "pay"
    assert mixed.existence_population is None
    assert dataclasses.replace(mixed, population="tries").existence_population == "tries"
    assert link([mixed]).lower_bound("tries:count").tolist() == [0.0]
    assert link([table]).lower_bound("pay:count").tolist() == [1.0]


def test_a_reader_counts_only_whole_transactions() -> None:
    lo, hi = np.array([1.0, 1.0, 0.9999999]), np.array([10.5, 11.0, 10.0000001])
    assert width(lo, hi, "count").tolist() == [9.0, 10.0, 9.0]
    assert width(lo, hi, "amount").tolist() == pytest.approx([9.5, 10.0, 9.0000002])


def test_the_amount_interval_must_cover_p_percent_of_the_value() -> None:
    # Two hidden cells, one dominated by a company: amounts are bounded by the annual total.
    rows: list[Row] = [(900, "A", "2024-03", "web", "card", 100_000.0)]
    rows += [(901 + i, "A", "2024-03", "web", "card", 10.0) for i in range(19)]
    for i, month in enumerate(MONTHS):
        if month != "2024-03":
            rows += payers(20 + i, department="A", month=month, start=100 * i)
    frame = transactions(rows)
    monthly = build_table("monthly", frame, ("month", "department"))
    annual = build_table("annual", frame, ("year", "department"), protected=True)
    done, report = protect([monthly, annual])
    assert report.ok
    hidden = cells(by_name(done)["monthly"]).filter(pl.col(SUPPRESSED))
    assert "2024-03" in hidden.get_column("month").to_list()


def test_the_report_holds_no_value() -> None:
    monthly, annual = _monthly_and_annual(small=4)
    _, report = protect([monthly, annual])
    assert set(report.rows.columns) == {
        "table",
        "quantity",
        "ok",
        "department",
        "month",
        "quarter",
        "year",
    }
    assert report.rows.get_column("ok").all()
    assert report.summary().endswith("all protected")


# -- adversarial -------------------------------------------------------------------------


def test_differencing_across_two_linked_tables() -> None:
    # Kiosk payments of department A in January are few; the table by department alone
    # publishes A's January total, and web is published: kiosk = total - web.
    rows = payers(30, department="A", month="2024-01", channel="web")
    rows += payers(3, department="A", month="2024-01", channel="kiosk", start=500)
    rows += payers(25, department="A", month="2024-02", channel="web", start=1000)
    rows += payers(12, department="A", month="2024-02", channel="kiosk", start=1500)
    frame = transactions(rows)
    by_channel = build_table("by-channel", frame, ("month", "department", "channel"))
    by_department = build_table("by-department", frame, ("month", "department"))
    # Without secondary suppression the audit sees through it.
    report = audit([primary(by_channel), primary(by_department)])
    assert [dict(f.coordinates)["channel"] for f in report.failures] == ["kiosk", "kiosk"]

    done, report = protect([by_channel, by_department])
    assert report.ok
    tables = by_name(done)
    # Either A's January total is hidden too, or another January channel cell is.
    january = cells(tables["by-channel"], month="2024-01")
    total_hidden = is_suppressed(tables["by-department"], month="2024-01")
    assert total_hidden or january.get_column(SUPPRESSED).sum() >= 2
    # The attacker's subtraction no longer works: not every other cell is published.
    published = january.filter(~pl.col(SUPPRESSED)).get_column("transactions").sum()
    assert total_hidden or published != 33 - 3


def test_a_tiny_department_total_is_hidden_beside_a_published_grand_total() -> None:
    rows = payers(40, department="A", month="2024-01")
    rows += payers(30, department="B", month="2024-01", start=100)
    rows += payers(4, department="TINY", month="2024-01", start=200)
    frame = transactions(rows)
    total = build_table("total", frame, ("year",), protected=True)
    by_department = build_table("by-department", frame, ("year", "department"))
    done, report = protect([total, by_department])
    assert report.ok
    hidden = cells(by_name(done)["by-department"]).filter(pl.col(SUPPRESSED))
    assert hidden.get_column("department").to_list() == ["B", "TINY"]


def test_a_release_that_cannot_be_protected_is_refused_without_values() -> None:
    rows = payers(40, department="A", month="2024-01", amount=123.45)
    rows += payers(30, department="B", month="2024-01", start=100, amount=123.45)
    rows += payers(4, department="TINY", month="2024-01", start=200, amount=987.65)
    frame = transactions(rows)
    total = build_table("total", frame, ("year",), protected=True)
    by_department = build_table("by-department", frame, ("year", "department"), protected=True)
    with pytest.raises(DisclosureError) as raised:
        protect([total, by_department])
    error = raised.value
    assert error.slug == "disclosure"
    assert "by-department" in str(error)
    assert "department=TINY" in str(error)
    # No count and no amount of any cell, only the year of its coordinates.
    assert re.findall(r"\d+(?:\.\d+)?", str(error)) == ["2024"]


def test_one_company_dominating_a_linked_cell() -> None:
    # A company pays 1M through the kiosk in January; 20 individuals pay 20 AED each beside
    # it. The kiosk cell has 21 payers but fails p%, and the department total would give
    # it away.
    rows = [(1, "A", "2024-01", "kiosk", "card", 1_000_000.0)]
    rows += payers(20, department="A", month="2024-01", channel="kiosk", start=10, amount=20.0)
    rows += payers(30, department="A", month="2024-01", channel="web", start=100)
    rows += payers(30, department="A", month="2024-01", channel="app", start=200)
    frame = transactions(rows)
    by_channel = build_table("by-channel", frame, ("month", "department", "channel"))
    by_department = build_table("by-department", frame, ("month", "department"))
    done, report = protect([by_channel, by_department])
    assert report.ok
    tables = by_name(done)
    assert is_suppressed(tables["by-channel"], channel="kiosk")
    hidden = int(cells(tables["by-channel"]).get_column(SUPPRESSED).sum())
    assert hidden + int(tables["by-department"].suppressed.sum()) >= 2


# -- determinism and output --------------------------------------------------------------


def _release() -> list[AuditTable]:
    rng = np.random.default_rng(7)
    n = 2000
    rows = list(
        zip(
            rng.integers(0, 300, n).tolist(),
            rng.choice(["A", "B", "C", "D"], n, p=[0.5, 0.3, 0.15, 0.05]).tolist(),
            rng.choice(list(MONTHS), n).tolist(),
            rng.choice(["web", "app", "kiosk"], n, p=[0.6, 0.35, 0.05]).tolist(),
            rng.choice(["card", "dd"], n, p=[0.8, 0.2]).tolist(),
            np.round(rng.pareto(1.5, n) * 100 + 10, 2).tolist(),
            strict=True,
        )
    )
    frame = transactions(rows)
    return [
        build_table("monthly-channel", frame, ("month", "department", "channel"), k=5),
        build_table("monthly", frame, ("month", "department"), k=5),
        build_table("annual", frame, ("year", "department"), k=5, protected=True),
        build_table(
            "dd", frame, ("quarter", "department"), k=5, restriction={"payment_method": "dd"}
        ),
        build_table("methods", frame, ("month", "department", "payment_method"), k=5),
    ]


def test_protect_is_deterministic_whatever_the_table_order() -> None:
    tables = _release()
    first, report = protect(tables)
    again, report_again = protect(tables)
    reordered, _ = protect(list(reversed(tables)))
    assert [t.name for t in first] == [t.name for t in tables]
    for a, b in zip(first, again, strict=True):
        assert a.cells.equals(b.cells)
    for a in first:
        assert a.cells.equals(by_name(reordered)[a.name].cells)
    assert report.rows.equals(report_again.rows)
    assert report.ok
    assert sum(int(t.suppressed.sum()) for t in first) > 0


def _last_first(
    linkage: Linkage, flags: NDArray[np.bool_], jobs: Sequence[AuditJob]
) -> list[JobAudit]:
    """A runner of the audit's jobs one after the other, the last job first."""
    done = {i: audit_job(linkage, flags, job) for i, job in reversed(list(enumerate(jobs)))}
    return [done[i] for i in range(len(jobs))]


def _plain(audits: Sequence[QuantityAudit], cache: Cache) -> tuple[object, object]:
    """Audits and cache as lists and dicts, to compare exactly."""

    def bound(binding: Mapping[int, Binding]) -> dict[int, object]:
        return {c: (b.rows.tolist(), b.duals.tolist()) for c, b in binding.items()}

    return [
        (a.quantity, a.cells.tolist(), a.ok.tolist(), a.shortfall.tolist(), bound(a.binding))
        for a in audits
    ], {key: (w.tolist(), bound(b)) for key, (w, b) in cache.items()}


def test_the_audit_is_the_same_however_its_jobs_are_run() -> None:
    """A runner may run the jobs anywhere and in any order: the audits, and what the cache
    learns round after round, are those of the default thread pool."""
    tables = _release()
    linkage = link([primary(t) for t in tables])
    flags = linkage.flags()
    pooled: Cache = {}
    serial: Cache = {}
    for more in (0, 3):  # a second round, on a few more cells: the cache answers the rest
        flags = flags.copy()
        flags[np.nonzero(~flags)[0][:more]] = True
        by_pool = audit_flags(linkage, flags, pooled)
        by_serial = audit_flags(linkage, flags, serial, run_jobs=_last_first)
        assert len(by_pool) > 1
        assert _plain(by_serial, serial) == _plain(by_pool, pooled)
    done, report = protect(tables, run_jobs=_last_first)
    expected, expected_report = protect(tables)
    for a, b in zip(done, expected, strict=True):
        assert a.cells.equals(b.cells)
    assert report.rows.equals(expected_report.rows)


def test_redact_nulls_every_measure_of_a_suppressed_cell() -> None:
    done, _ = protect(_release())
    for table in done:
        out = redact(table)
        hidden = out.filter(pl.col(SUPPRESSED))
        assert hidden.height == table.suppressed.sum()
        for column in set(out.columns) - {*table.coordinates, SUPPRESSED}:
            assert hidden.get_column(column).null_count() == hidden.height
        shown = out.filter(~pl.col(SUPPRESSED))
        assert shown.get_column("transactions").null_count() == 0


def test_input_problems_are_named() -> None:
    table = _one_cell([100.0] * 10)
    with pytest.raises(DisclosureError, match="lacks the columns"):
        protect([AuditTable("t", table.cells.drop("payers"), table.coordinates, QUANTITIES)])
    with pytest.raises(DisclosureError, match="not named"):
        protect([AuditTable("t", table.cells, table.coordinates, {"pay": "transactions"})])
    with pytest.raises(DisclosureError, match="repeat"):
        protect([table, table])
