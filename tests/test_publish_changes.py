"""``changes.json``: what a version changed against the one before it (publish.changes)."""

from __future__ import annotations

import polars as pl

from bawaba.catalog.load import load_catalog
from bawaba.publish import changes
from conftest import ROOT

DATASET = load_catalog(ROOT / "catalog.yaml").dataset("epay-monthly")


def frame(rows: list[tuple[str, str, str, int | None, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "month": m,
                "department": d,
                "channel": c,
                "transactions": t,
                "payers": None if t is None else 10,
                "amount_aed": None,
                "suppressed": s,
            }
            for m, d, c, t, s in rows
        ],
        schema={
            "month": pl.String,
            "department": pl.String,
            "channel": pl.String,
            "transactions": pl.Int64,
            "payers": pl.Int64,
            "amount_aed": pl.Decimal(18, 2),
            "suppressed": pl.Boolean,
        },
    )


BEFORE = frame(
    [
        ("2013-01", "RTA", "web", 5, False),
        ("2013-01", "DEWA", "web", 7, False),
        ("2013-02", "RTA", "web", None, True),
        ("2013-02", "DEWA", "web", 9, False),
    ]
)


def test_a_first_version_adds_every_cell_and_period() -> None:
    summary = changes.compare(DATASET, "v1", BEFORE, None, None)
    assert summary.previous is None
    assert summary.added_periods == ["2013-01", "2013-02"]
    assert (summary.added_cells, summary.revised_cells, summary.removed_cells) == (4, 0, 0)


def test_added_revised_and_removed_cells_are_counted_apart() -> None:
    after = frame(
        [
            ("2013-01", "RTA", "web", 6, False),  # revised
            ("2013-01", "DEWA", "web", 7, False),  # the same
            ("2013-02", "RTA", "web", None, True),  # the same, hidden (nulls are equal)
            ("2013-03", "RTA", "web", 1, False),  # added, in a new month
            ("2013-03", "DEWA", "web", None, True),  # added
        ]
    )  # 2013-02 DEWA removed
    summary = changes.compare(DATASET, "v2", after, BEFORE, "v1")
    assert (summary.version, summary.previous) == ("v2", "v1")
    assert summary.added_periods == ["2013-03"]
    assert (summary.added_cells, summary.revised_cells, summary.removed_cells) == (2, 1, 1)
    # The periods published before that changed: 2013-01 revised, 2013-02 lost a cell.
    assert summary.revised_periods == {"2013-01": 1, "2013-02": 1}


def test_a_cell_added_to_a_published_period_revises_that_period() -> None:
    after = BEFORE.vstack(frame([("2013-02", "DM", "web", 12, False)]))
    summary = changes.compare(DATASET, "v2", after, BEFORE, "v1")
    assert summary.added_periods == []
    assert summary.added_cells == 1
    assert summary.revised_periods == {"2013-02": 1}


def test_the_same_frame_changes_nothing() -> None:
    summary = changes.compare(DATASET, "v2", BEFORE.clone(), BEFORE, "v1")
    assert summary.added_periods == []
    assert summary.revised_periods == {}
    assert (summary.added_cells, summary.revised_cells, summary.removed_cells) == (0, 0, 0)


def test_the_summary_holds_only_periods_and_counts() -> None:
    encoded = changes.encode(changes.compare(DATASET, "v2", BEFORE, BEFORE, "v1"))
    assert set(changes.VersionChanges.model_validate_json(encoded).model_dump()) == {
        "dataset",
        "version",
        "previous",
        "added_periods",
        "added_cells",
        "revised_cells",
        "removed_cells",
        "revised_periods",
    }
