"""Each payer's first quarter in a year, kept for the years whose rows do not change.

Whether a payer is new in a quarter (``builders.payer_mix``) depends on every earlier
year's rows, so without this a publish would read all of history to build the latest year.
A year's first quarters depend on that year's rows alone, and those are named by the year's
counts (``periods``): parts never change, so the same counts are the same rows. Each year's
are kept under ``var/publish/firsts``, one file named by a digest of the counts (and of the
code that made it), and read instead of the year's rows while the counts stay the same.
Payer ids are the store's surrogates: this is the publisher's private state, never
published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from bawaba import __version__
from bawaba.fsutil import atomic_path
from bawaba.publish.periods import read_kept
from bawaba.publish.revisions import PERIOD


class KeptFirsts:
    """The kept first quarters under ``folder`` (None: keep nothing, work each out)."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder

    def of_year(
        self, year: int | None, counts: pl.DataFrame, work_out: Callable[[], pl.DataFrame]
    ) -> pl.DataFrame:
        """``year``'s first quarters: kept ones if ``counts`` (the year's) are those they
        were worked out from, else ``work_out()``, then kept."""
        if self._folder is None or year is None:
            return work_out()
        path = self._folder / f"{year}-{_digest(counts)}.parquet"
        kept = read_kept(path)
        if kept is not None:
            return kept
        firsts = work_out()
        with atomic_path(path) as temporary:
            firsts.write_parquet(temporary)
        for stale in self._folder.glob(f"{year}-*.parquet"):
            if stale != path:
                stale.unlink(missing_ok=True)
        return firsts


def _digest(counts: pl.DataFrame) -> str:
    rows = counts.select("part", PERIOD, "rows").sort("part", PERIOD)
    text = f"{__version__}\n{rows.write_csv()}".encode()
    return hashlib.sha256(text).hexdigest()[:32]
