"""What `bawaba publish` says it did (``publish.explain``), from the report it writes."""

from __future__ import annotations

from bawaba.publish.explain import explain
from bawaba.publish.publisher import DatasetOutcome, PublishReport


def _report(*outcomes: DatasetOutcome, held: list[int] | None = None) -> PublishReport:
    return PublishReport(
        "20130301T000000Z", switched=True, datasets=list(outcomes), held_back_months=held or []
    )


def test_a_new_version_names_the_periods_it_adds_and_revises() -> None:
    lines = explain(
        _report(
            DatasetOutcome(
                "epay-monthly",
                "v4",
                "new",
                rows=90,
                added_periods=["2013-02"],
                revised_periods={"2013-01": 3, "2012-12": 1},
            )
        )
    )
    assert lines == ["epay-monthly v4: adds 2013-02; revises 2012-12 (1 cell), 2013-01 (3 cells)"]


def test_many_periods_are_told_as_a_count_and_a_range() -> None:
    added = [f"2012-{m:02d}" for m in range(1, 13)]
    revised = {f"2011-{m:02d}": 2 for m in range(1, 7)}
    (line,) = explain(
        _report(DatasetOutcome("d", "v2", "new", added_periods=added, revised_periods=revised))
    )
    assert line == (
        "d v2: adds 12 periods, 2012-01 to 2012-12; revises 6 periods, 2011-01 to 2011-06 "
        "(12 cells)"
    )


def test_withheld_left_out_and_held_back_are_each_said_with_their_reason() -> None:
    lines = explain(
        _report(
            DatasetOutcome("payer-mix", "v2", "withheld", note="2013: 40% of its cells"),
            DatasetOutcome("new-table", None, "withheld", note=""),
            DatasetOutcome("epay-annual", "v3", "unchanged", note="2013 left out: too few"),
            DatasetOutcome("epay-monthly", "v5", "unchanged"),
            held=[201301],
        )
    )
    assert lines[:3] == [
        "payer-mix withheld: 2013: 40% of its cells; v2 stays current",
        "new-table withheld: no reason given",
        "epay-annual v3: 2013 left out: too few",
    ]
    assert len(lines) == 4
    assert lines[3].startswith("held back: the late rows of 2013-01 would move some cell")
