"""What a department pipeline file declares: where its data comes from and how it maps.

A file in ``pipelines/`` holds one ``PIPELINE = Pipeline(...)``. Departments that run the same
vendor system share an ``ExportFormat`` (``pipelines/_vendors.py``) and state only what is
their own. Nothing here runs; the engine in ``bawaba.ingest.runner`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from bawaba.ingest.contract import FIELDS

Reader = Literal["csv", "jsonl", "parquet"]
AmountStyle = Literal["aed", "aed_grouped", "fils"]


@dataclass(frozen=True)
class ExportFormat:
    """How one vendor system writes its export."""

    reader: Reader
    columns: Mapping[str, str]
    """Source column -> canonical field (see ``bawaba.ingest.contract.FIELDS``)."""
    timestamp: str
    """A strptime pattern, ``iso8601`` (with or without offset), or ``native`` (typed)."""
    amount: AmountStyle
    """aed ``1234.5``; aed_grouped ``"1,234.50"``; fils ``123450``."""
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Canonical coded field -> {source label: reference code}; identity when absent."""
    optional: frozenset[str] = frozenset()
    """Canonical fields a department may leave out of its export."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns.values()) - FIELDS.keys())
        if unknown:
            raise ValueError(f"unknown canonical fields {unknown}; valid: {sorted(FIELDS)}")

    def renamed(self, renames: Mapping[str, str]) -> ExportFormat:
        """The same format where the department calls some columns by its own names.

        ``renames`` maps canonical field -> the department's column name.
        """
        by_field = {canonical: source for source, canonical in self.columns.items()}
        by_field.update(renames)
        return replace(self, columns={source: canonical for canonical, source in by_field.items()})


@dataclass(frozen=True)
class FileDrop:
    """Files the department drops into its landing folder (``var/landing/<DEPT>/``)."""

    pattern: str
    """Glob inside the department's landing folder, e.g. ``DP_*.csv``."""


@dataclass(frozen=True)
class HttpExport:
    """A paged JSON export API: ``GET {path}?after=<watermark>&limit=<page_size>``.

    Answers ``{"records": [...], "next_after": <last sequence>}``; the watermark is the largest
    ``source_seq`` seen, so a re-run pulls only records added since.
    """

    path: str
    page_size: int = 5000
    """Records per request, the export APIs' own default. Larger pages save round trips
    but not time: pulling DCCI's 189,000 records took 2.2-2.6 CPU-s (server and client
    together) at 5,000 against 3.8-4.2 at 20,000 (scripted pull, 2026-11-23), and a page's
    records stay a few MB once parsed."""


Source = FileDrop | HttpExport


@dataclass(frozen=True)
class Pipeline:
    department: str
    source: Source
    format: ExportFormat
