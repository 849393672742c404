"""The payer index: keyed pseudonym -> dense surrogate id, in order of first appearance.

The analytic store carries the surrogate, not the pseudonym, so its bytes depend neither on
the key nor on any identifier value, only on which rows share a payer. The index itself is
S1's private state, kept beside the store and never published.

While a run lasts, the index also remembers which canonical identity got which id, so that
a payer met in several departments is pseudonymised once. That memo lives in memory only
and is never written.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

SCHEMA = {"payer_key": pl.Binary(), "payer_id": pl.UInt32()}
MEMO = {"identity": pl.String(), "payer_id": pl.UInt32()}


def lookup(keys: pl.Series, table: pl.DataFrame) -> pl.Series:
    """The ``payer_id`` of each of ``keys`` in ``table`` (keyed by the column of ``keys``'s
    name, once each), null where absent.

    An inner join scattered back into place: cheaper than a left join that keeps the order.
    """
    found = keys.to_frame().with_row_index("at").join(table, on=keys.name, how="inner")
    nulls = pl.repeat(None, keys.len(), dtype=pl.UInt32(), eager=True).alias("payer_id")
    return nulls.scatter(found.get_column("at"), found.get_column("payer_id"))


def _compact(text: pl.Series) -> pl.Series:
    """``text`` in buffers of its own.

    A string picked out of a larger frame (filtered, made unique) still points into that
    frame's buffers, which stay alive as long as it does: the memo, kept for the whole run,
    would otherwise keep every piece's identities, not only the new ones."""
    return pl.Series(text.name, text.to_arrow(), dtype=text.dtype)


class PayerIndex:
    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._frame = frame if frame is not None else pl.DataFrame(schema=SCHEMA)
        self._added: list[pl.DataFrame] = []
        self._memo = pl.DataFrame(schema=MEMO)

    @classmethod
    def read(cls, path: Path | None) -> PayerIndex:
        if path is None or not path.exists():
            return cls()
        return cls(pl.read_parquet(path))

    @property
    def size(self) -> int:
        return self._frame.height + sum(f.height for f in self._added)

    def _all(self) -> pl.DataFrame:
        if self._added:
            self._frame = pl.concat([self._frame, *self._added])
            self._added = []
        return self._frame

    def assign(self, keys: pl.Series) -> pl.Series:
        """Surrogate ids for distinct ``keys``; unseen keys get the next ids, in order."""
        start = self.size
        unseen = pl.col("payer_id").is_null()
        fresh = (unseen.cum_sum() - 1 + start).cast(pl.UInt32())
        known = lookup(keys.alias("payer_key"), self._all())
        ids = (
            keys.to_frame("payer_key")
            .with_columns(known)
            .with_columns(pl.col("payer_id").fill_null(fresh))
        )
        self._added.append(ids.filter(pl.col("payer_id") >= start))
        return ids["payer_id"]

    def recall(self, identities: pl.Series) -> pl.Series:
        """The id this run gave each canonical identity, null for one it has not met."""
        return lookup(identities.alias("identity"), self._memo)

    def remember(self, identities: pl.Series, ids: pl.Series) -> None:
        met = pl.DataFrame({"identity": _compact(identities), "payer_id": ids}, schema=MEMO)
        self._memo = pl.concat([self._memo, met])

    def truncate(self, size: int) -> None:
        """Forget ids from ``size`` on (a failed department's), so they are not committed."""
        self._frame = self._all().head(size)
        self._memo = self._memo.filter(pl.col("payer_id") < size)

    def write(self, path: Path) -> None:
        self._all().write_parquet(path, compression="zstd", statistics=False)
