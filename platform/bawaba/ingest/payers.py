"""The payer index: keyed pseudonym -> dense surrogate id, in order of first appearance.

The analytic store carries the surrogate, not the pseudonym, so its bytes depend neither on
the key nor on any identifier value, only on which rows share a payer. The index itself is
S1's private state, kept beside the store and never published.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

SCHEMA = {"payer_key": pl.Binary(), "payer_id": pl.UInt32()}


class PayerIndex:
    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._frame = frame if frame is not None else pl.DataFrame(schema=SCHEMA)
        self._added: list[pl.DataFrame] = []

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
        ids = (
            keys.to_frame("payer_key")
            .join(self._all(), on="payer_key", how="left", maintain_order="left")
            .with_columns(pl.col("payer_id").fill_null(fresh))
        )
        self._added.append(ids.filter(pl.col("payer_id") >= start))
        return ids["payer_id"]

    def truncate(self, size: int) -> None:
        """Forget ids from ``size`` on (a failed department's), so they are not committed."""
        self._frame = self._all().head(size)

    def write(self, path: Path) -> None:
        self._all().write_parquet(path, compression="zstd", statistics=False)
