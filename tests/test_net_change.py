"""``revisions.net_change``: what a corrected delivery changes, as multisets of rows.

A correction is weighed by the rows it changes, and the payers in them are those a reader
comparing two versions could single out: the difference must be exact, duplicates and
missing values included, whatever the order of the rows.
"""

from __future__ import annotations

from collections import Counter

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from bawaba.publish.revisions import net_change

ROW = st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 2), st.integers(0, 3))
ROWS = st.lists(ROW, max_size=12)
ON = ["service", "amount"]


def _frame(rows: list[tuple[str | None, int, int]]) -> pl.DataFrame:
    schema = {"service": pl.String, "amount": pl.Int64, "payer_id": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


@given(ROWS, ROWS)
def test_the_net_change_is_each_side_less_what_the_other_matches(
    added: list[tuple[str | None, int, int]], removed: list[tuple[str | None, int, int]]
) -> None:
    got = net_change(_frame(added), _frame(removed), ON)

    def on(rows: list[tuple[str | None, int, int]]) -> Counter[tuple[str | None, int]]:
        return Counter((service, amount) for service, amount, _ in rows)

    expected = (on(added) - on(removed)) + (on(removed) - on(added))
    assert Counter(got.select(ON).iter_rows()) == expected


@given(ROWS)
def test_rows_sent_again_unchanged_change_nothing(rows: list[tuple[str | None, int, int]]) -> None:
    assert net_change(_frame(rows), _frame(list(reversed(rows))), ON).height == 0
