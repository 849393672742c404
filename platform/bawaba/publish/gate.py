"""Stage S4, the publish gate: checks the serialised files themselves and fails closed.

It runs on what would be published (the staged Parquet), never on the frames that produced
it, in the order of PRIVACY.md: declared columns (their types, then their declared ranges),
code lists, a PII scan, thresholds recomputed from the analytic rows, the suppression audit,
the revision check. A failure stops the whole release; the previous one stays current. The
report it writes names rules, counts and places, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bawaba.catalog import Dataset, Field
from bawaba.privacy.detect import scan
from bawaba.publish.cells import AMOUNT
from bawaba.publish.codelists import code_set
from bawaba.reference import Reference

NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt32, pl.Float64, pl.Decimal)
TIME_FORMATS: dict[str, re.Pattern[str]] = {
    "month": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^\d{4}-Q[1-4]$"),
}
EXPECTED_TYPES: dict[str, tuple[type[pl.DataType], ...]] = {
    "integer": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt32),
    "decimal": (pl.Float64, pl.Decimal),
    "string": (pl.String,),
    "boolean": (pl.Boolean,),
    "date": (pl.Date,),
}


@dataclass
class GateFinding:
    rule: str
    where: str
    message: str


@dataclass
class GateResult:
    dataset: str
    rules: list[str] = field(default_factory=list)
    findings: list[GateFinding] = field(default_factory=list)
    rows: int = 0
    suppressed: int = 0

    @property
    def passed(self) -> bool:
        return not self.findings

    def fail(self, rule: str, where: str, message: str) -> None:
        self.findings.append(GateFinding(rule, where, message))


def check_columns(frame: pl.DataFrame, dataset: Dataset, result: GateResult) -> None:
    result.rules.append("declared-columns")
    if tuple(frame.columns) != dataset.columns:
        result.fail(
            "declared-columns",
            dataset.id,
            f"columns {frame.columns} differ from the catalog's {list(dataset.columns)}",
        )
        return
    for f in dataset.fields:
        dtype = frame.schema[f.name]
        if not isinstance(dtype, EXPECTED_TYPES[f.type]):
            result.fail(
                "declared-columns",
                f"{dataset.id}.{f.name}",
                f"type {dtype} is not the catalog's {f.type}",
            )


def check_ranges(frame: pl.DataFrame, dataset: Dataset, result: GateResult) -> None:
    """Every non-null value lies in its field's declared range. A value outside it is a
    defect upstream (a wrapped integer, a share over 100), and whatever it is, it is not
    what the catalog promises readers, so the dataset fails. The finding counts the rows
    and names the range, never a value."""
    result.rules.append("declared-ranges")
    for f, count in outside_ranges(frame, dataset):
        result.fail(
            "declared-ranges",
            f"{dataset.id}.{f.name}",
            f"{count} row(s) outside the declared range {f.declared_range}",
        )


def outside_ranges(frame: pl.DataFrame, dataset: Dataset) -> list[tuple[Field, int]]:
    """The fields of ``dataset`` with values of ``frame`` outside their declared range, and
    how many rows hold one."""
    found = []
    for f in dataset.fields:
        if (f.minimum is None and f.maximum is None) or f.name not in frame.columns:
            continue
        value = frame[f.name]
        if not value.dtype.is_numeric():
            continue  # check_columns fails the type
        value = value.cast(pl.Float64)
        outside = value.is_nan()
        if f.minimum is not None:
            outside |= value < f.minimum
        if f.maximum is not None:
            outside |= value > f.maximum
        count = int(outside.fill_null(value=False).sum())
        if count:
            found.append((f, count))
    return found


def check_code_lists(
    frame: pl.DataFrame, dataset: Dataset, reference: Reference, result: GateResult
) -> None:
    result.rules.append("code-lists")
    for f in dataset.fields:
        if f.code_list is not None:
            valid = code_set(reference, f.code_list)
            values = frame[f.name].drop_nulls().unique().to_list()
            strays = [v for v in values if v not in valid]
            if strays:
                # A stray value may itself be personal data: count it, never echo it.
                result.fail(
                    "code-lists",
                    f"{dataset.id}.{f.name}",
                    f"{len(strays)} value(s) outside the {f.code_list} code list",
                )
        pattern = TIME_FORMATS.get(f.name)
        if pattern is not None:
            bad = sum(1 for v in frame[f.name].unique().to_list() if not pattern.match(str(v)))
            if bad:
                result.fail(
                    "code-lists",
                    f"{dataset.id}.{f.name}",
                    f"{bad} value(s) not in the {f.name} format",
                )


def pii_findings(texts: Iterable[tuple[str, str]]) -> list[GateFinding]:
    """A finding per (place, text) that holds personal data; the text is never kept."""
    found = []
    for where, text in texts:
        kinds = sorted({f.kind for f in scan(text)})
        if kinds:
            found.append(GateFinding("pii-scan", where, f"looks like {', '.join(kinds)}"))
    return found


def check_pii(frame: pl.DataFrame, dataset: Dataset, path: Path, result: GateResult) -> None:
    result.rules.append("pii-scan")
    texts: list[tuple[str, str]] = [(f"{dataset.id} file name", path.name)]
    texts += [(f"{dataset.id} column name", c) for c in frame.columns]
    for name in ("title", "description"):
        text = getattr(dataset, name)
        texts += [(f"{dataset.id}.{name}.en", text.en), (f"{dataset.id}.{name}.ar", text.ar)]
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            texts += [
                (f"{dataset.id}.{column}", v) for v in frame[column].drop_nulls().unique().to_list()
            ]
    result.findings += pii_findings(texts)


def check_thresholds(
    frame: pl.DataFrame,
    counted: pl.DataFrame,
    keys: list[str],
    k: int,
    p: float,
    result: GateResult,
    *,
    contributors: Iterable[str] = (),
    sub_payers: Mapping[str, str] | None = None,
) -> None:
    """Every published cell meets k and p%, judged afresh on ``counted``: each cell's
    payers, amount and two largest per-payer sums as counted from the analytic rows before
    any suppression (the builders' cells), whatever the suppression flags say. The p% rule
    is judged again for each other kind of ``contributors`` (banks), and every
    sub-population counted in a cell (``sub_payers``: name -> its payers column) has no
    payer or at least k."""
    result.rules.append("thresholds")
    published = frame.filter(~pl.col("suppressed")).select(keys)
    joined = published.join(counted, on=keys, how="left")
    missing = joined.filter(pl.col("payers").is_null()).height
    if missing:
        result.fail(
            "thresholds",
            result.dataset,
            f"{missing} published cell(s) have no rows in the analytic store",
        )
    under_k = joined.filter(pl.col("payers") < k).height
    if under_k:
        result.fail(
            "thresholds",
            result.dataset,
            f"{under_k} published cell(s) have fewer than k = {k} payers",
        )
    for name, column in sorted((sub_payers or {}).items()):
        few = joined.filter(pl.col(column).is_between(1, k - 1)).height
        if few:
            result.fail(
                "thresholds",
                result.dataset,
                f"{few} published cell(s) count {name} of 1 to {k - 1} payers (k = {k})",
            )
    for contributor in (None, *contributors):
        stem = AMOUNT if contributor is None else f"{AMOUNT}_{contributor}"
        if f"{stem}_top1" not in joined.columns:
            continue
        x1, x2 = pl.col(f"{stem}_top1"), pl.col(f"{stem}_top2")
        dominated = joined.filter(pl.col(AMOUNT) - x1 - x2 < x1 * p / 100).height
        if dominated:
            whom = "payers" if contributor is None else f"{contributor}s"
            result.fail(
                "thresholds",
                result.dataset,
                f"{dominated} published cell(s) fail the p% rule (p = {p}) with {whom} "
                "as the contributors",
            )


def check_revision(
    frame: pl.DataFrame,
    previous: pl.DataFrame | None,
    moved: pl.DataFrame,
    keys: list[str],
    k: int,
    result: GateResult,
) -> None:
    """A published value may change only when at least k distinct payers moved its cell, or
    differencing the two versions would single out the few who did. Hiding a value (a cell
    or a measure now empty) reveals nothing and is always allowed; showing a value that was
    hidden is a change like any other. ``moved`` holds, per cell, the payers new to this
    release (``movers``)."""
    result.rules.append("revision")
    if previous is None:
        return
    before = previous.rename({c: f"{c}__before" for c in previous.columns if c not in keys})
    both = frame.join(before, on=keys, how="inner")
    differs = pl.any_horizontal(
        pl.col(c).is_not_null() & pl.col(c).ne_missing(pl.col(f"{c}__before"))
        for c in frame.columns
        if c not in keys and c != "suppressed"
    )
    changed = both.filter(differs).select(keys).join(moved, on=keys, how="left")
    unsafe = changed.filter(pl.col("movers").fill_null(0) < k).height
    if unsafe:
        result.fail(
            "revision",
            result.dataset,
            f"{unsafe} revised cell(s) moved by fewer than k = {k} payers",
        )
