"""The references a department delivered so far in a run, kept as 128-bit hashes.

Deduplication must know every reference met before, across all the department's pieces,
but not the references themselves: two 64-bit hashes of each (16 bytes, against 50 or so
for the text in a frame) in one sorted array, searched a piece at a time. Two different
references share both hashes with a probability of about n² / 2¹²⁹: never, at any volume a
department delivers. The hashes stay in memory for one run, under seeds drawn for that run,
so none can be matched against a table of hashed references made beforehand.
"""

from __future__ import annotations

import secrets

import numpy as np
import polars as pl
from numpy.typing import NDArray


def _hashes(
    references: pl.Series, seeds: tuple[int, int]
) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    first, second = (references.hash(seed).to_numpy() for seed in seeds)
    return first, second


class SeenReferences:
    def __init__(self) -> None:
        self._seeds = (secrets.randbits(63), secrets.randbits(63))
        # Sorted by ``_first``; ``_second`` alongside.
        self._first: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._second: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._first)

    def first_seen(self, references: pl.Series) -> pl.Series:
        """True for each reference met for the first time (earlier in ``references`` or in
        an earlier call counts as met); remembers them all."""
        fresh = references.is_first_distinct().to_numpy().copy()
        first, second = _hashes(references, self._seeds)
        fresh &= ~self._contains(first, second)
        order = np.argsort(first[fresh], kind="stable")
        new_first, new_second = first[fresh][order], second[fresh][order]
        at = np.searchsorted(self._first, new_first)
        self._first = np.insert(self._first, at, new_first)
        self._second = np.insert(self._second, at, new_second)
        return pl.Series(references.name, fresh)

    def _contains(self, first: NDArray[np.uint64], second: NDArray[np.uint64]) -> NDArray[np.bool_]:
        left = np.searchsorted(self._first, first, side="left")
        right = np.searchsorted(self._first, first, side="right")
        found = np.zeros(len(first), dtype=np.bool_)
        one = right - left == 1
        found[one] = self._second[left[one]] == second[one]
        # Two stored references with the same first hash: as good as never.
        for i in np.flatnonzero(right - left > 1):
            found[i] = bool((self._second[left[i] : right[i]] == second[i]).any())
        return found
