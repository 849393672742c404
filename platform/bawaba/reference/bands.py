"""Amount bands: the only way an amount is ever used as a dimension (PRIVACY.md S1)."""

from __future__ import annotations

from bisect import bisect_right

import polars as pl

from bawaba.reference import load_reference

# Lower bounds in AED of the second band onwards, matching the amount_bands code list.
BOUNDS_AED: tuple[int, ...] = (50, 100, 250, 500, 1_000, 5_000, 10_000, 50_000)


def _labels() -> list[str]:
    labels = [b.code for b in load_reference().amount_bands]
    assert len(labels) == len(BOUNDS_AED) + 1, "amount bands and their bounds disagree"
    return labels


def band_of(aed: float) -> str:
    """The band code of one amount in AED."""
    return _labels()[bisect_right(BOUNDS_AED, aed)]


def band_of_fils(fils: pl.Expr) -> pl.Expr:
    """The band code of each amount in fils (lower bound inclusive)."""
    index = pl.sum_horizontal(fils >= bound * 100 for bound in BOUNDS_AED)
    return index.replace_strict(dict(enumerate(_labels())), return_dtype=pl.String())
