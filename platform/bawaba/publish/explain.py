"""What a publish did, in words for its operator: per dataset the periods it added and the
periods it revised, the months whose late rows wait, and the datasets withheld, each with
its reason. Read from the report alone (``PublishReport``), so the words say what was done.
"""

from __future__ import annotations

from bawaba.publish.publisher import PublishReport

LISTED = 4
"""Up to this many periods are named one by one; more are told as a count and a range."""


def _periods(periods: list[str]) -> str:
    if len(periods) <= LISTED:
        return ", ".join(periods)
    return f"{len(periods)} periods, {periods[0]} to {periods[-1]}"


def _revised(revised: dict[str, int]) -> str:
    cells = sum(revised.values())
    counts = ", ".join(f"{p} ({n} cell{'s' * (n != 1)})" for p, n in sorted(revised.items()))
    if len(revised) <= LISTED:
        return counts
    return f"{_periods(sorted(revised))} ({cells} cells)"


def _month(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


def explain(report: PublishReport) -> list[str]:
    """One line per dataset with a new version, held-back month and withheld dataset, and
    one per year a published dataset leaves out."""
    lines: list[str] = []
    for outcome in report.datasets:
        if outcome.status == "new":
            done = []
            if outcome.added_periods:
                done.append(f"adds {_periods(outcome.added_periods)}")
            if outcome.revised_periods:
                done.append(f"revises {_revised(outcome.revised_periods)}")
            lines.append(
                f"{outcome.dataset} {outcome.version}: "
                + ("; ".join(done) or f"{outcome.rows:,} rows, no period added or revised")
            )
        if outcome.status == "withheld":
            kept = f"; {outcome.version} stays current" if outcome.version else ""
            lines.append(f"{outcome.dataset} withheld: {outcome.note or 'no reason given'}{kept}")
        elif outcome.note:  # a published dataset's note: the years it leaves out
            lines.append(f"{outcome.dataset} {outcome.version}: {outcome.note}")
    for month in report.held_back_months:
        lines.append(
            f"held back: the late rows of {_month(month)} would move some cell by fewer than "
            "k payers (the revision rule); they wait for a later publish, with any that "
            "arrive by then"
        )
    return lines
