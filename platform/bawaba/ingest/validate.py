"""The schema contract: parses canonical text into types and names every bad row's fault.

Each row gets at most one reason, the first that applies, as a stable slug plus the field it
concerns. Rows with a reason go to quarantine; valid rows whose reference was already seen in
this batch are duplicates (``duplicates``). Every raw row ends up in exactly one of the three.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import polars as pl

from bawaba.ingest.contract import CODE_LISTS, PAYER_IDENTITY, REQUIRED
from bawaba.ingest.declarations import ExportFormat
from bawaba.reference import Reference, codes

Reason = Literal[
    "missing_field",
    "bad_timestamp",
    "bad_amount",
    "negative_amount",
    "unknown_code",
    "unknown_service",
    "no_payer_identity",
]
REASONS: dict[Reason, str] = {
    "missing_field": "a required field is empty",
    "bad_timestamp": "the timestamp is not a valid date and time in the expected format",
    "bad_amount": "the amount is not a number",
    "negative_amount": "the amount is negative",
    "unknown_code": "a coded field holds a value outside its code list",
    "unknown_service": "the service code is not one of this department's services",
    "no_payer_identity": "no Emirates ID, trade licence, mobile or e-mail identifies the payer",
}

REASON = "_reason"
DETAIL = "_detail"

# Timestamps outside this window are typos, not history.
EARLIEST = datetime(2000, 1, 1)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).cast(pl.String()).str.strip_chars() == "")


def _timestamp(fmt: ExportFormat) -> pl.Expr:
    raw = pl.col("occurred_at")
    if fmt.timestamp == "native":
        return raw.cast(pl.Datetime("us"), strict=False)
    text = raw.str.strip_chars()
    if fmt.timestamp == "iso8601":
        with_offset = (
            text.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False)
            .dt.convert_time_zone("Asia/Dubai")
            .dt.replace_time_zone(None)
        )
        local = text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
        return pl.coalesce(with_offset, local).cast(pl.Datetime("us"))
    return text.str.to_datetime(fmt.timestamp, strict=False).cast(pl.Datetime("us"))


def _amount_fils(fmt: ExportFormat) -> pl.Expr:
    text = pl.col("amount").str.strip_chars()
    if fmt.amount == "fils":
        return text.cast(pl.Int64(), strict=False)
    if fmt.amount == "aed_grouped":
        text = text.str.replace_all(",", "", literal=True)
    aed = text.cast(pl.Decimal(20, 2), strict=False)
    return (aed * 100).cast(pl.Int64(), strict=False)


def _code(field: str, labels: Mapping[str, str] | None) -> pl.Expr:
    text = pl.col(field).str.strip_chars()
    if labels is None:
        return text
    return text.replace_strict(dict(labels), default=None, return_dtype=pl.String())


def validate(
    canonical: pl.LazyFrame, fmt: ExportFormat, department: str, reference: Reference
) -> pl.LazyFrame:
    """Typed canonical rows with ``_reason`` and ``_detail`` (null when the row is valid)."""
    services = [s.code for s in reference.department(department).services]
    now = datetime.now()
    typed = canonical.with_columns(
        _timestamp(fmt).alias("_occurred_at"),
        _amount_fils(fmt).alias("amount_fils"),
        *[_code(f, fmt.codes.get(f)).alias(f"_{f}") for f in CODE_LISTS],
        pl.col("service_code").str.strip_chars().alias("_service_code"),
    )

    checks: list[tuple[pl.Expr, Reason, str]] = [
        (_blank(name), "missing_field", name) for name in REQUIRED
    ]
    checks.append(
        (pl.all_horizontal(_blank(n) for n in PAYER_IDENTITY), "no_payer_identity", "payer")
    )
    occurred = pl.col("_occurred_at")
    checks.append(
        (
            occurred.is_null() | (occurred < EARLIEST) | (occurred > now),
            "bad_timestamp",
            "occurred_at",
        )
    )
    checks.append((pl.col("amount_fils").is_null(), "bad_amount", "amount"))
    checks.append((pl.col("amount_fils") < 0, "negative_amount", "amount"))
    for field, list_name in CODE_LISTS.items():
        valid = list(codes(getattr(reference, list_name)))
        mapped = pl.col(f"_{field}")
        unknown = ~_blank(field) & (mapped.is_null() | ~mapped.is_in(valid))
        checks.append((unknown, "unknown_code", field))
    checks.append((~pl.col("_service_code").is_in(services), "unknown_service", "service_code"))

    reason = pl.coalesce([pl.when(c).then(pl.lit(slug)) for c, slug, _ in checks])
    detail = pl.coalesce([pl.when(c).then(pl.lit(field)) for c, _, field in checks])
    return typed.with_columns(reason.alias(REASON), detail.alias(DETAIL))


def duplicates(valid: pl.DataFrame) -> pl.Series:
    """True for each valid row whose reference came earlier: a re-delivery, not a payment."""
    return ~valid.get_column("reference").str.strip_chars().is_first_distinct()
