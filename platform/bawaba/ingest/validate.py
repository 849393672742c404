"""The schema contract: parses canonical text into types and names every bad row's fault.

Each row gets at most one reason, the first of ``CHECKS`` that applies, as a stable slug plus
the field it concerns. Rows with a reason go to quarantine; valid rows whose reference was
already seen in this batch are duplicates (``duplicates``). Every raw row ends up in exactly
one of the three.

Every raw row passes through here, so each value is touched as few times as possible: text
fields are stripped once, a coded field is mapped onto its code list in one lookup (a value
outside the list maps to null), and a row's fault is kept as the small index of its first
failing check, put into words only for the few rows that have one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

import polars as pl

from bawaba.ingest.contract import CODE_LISTS, PAYER_IDENTITY, REQUIRED
from bawaba.ingest.declarations import ExportFormat
from bawaba.reference import Reference

Reason = Literal[
    "missing_field",
    "bad_timestamp",
    "bad_amount",
    "negative_amount",
    "unknown_code",
    "unknown_service",
    "no_payer_identity",
    "unreadable_file",
    "not_an_object",
]
REASONS: dict[Reason, str] = {
    "missing_field": "a required field is empty",
    "bad_timestamp": "the timestamp is not a valid date and time in the expected format",
    "bad_amount": "the amount is not a number",
    "negative_amount": "the amount is negative",
    "unknown_code": "a coded field holds a value outside its code list",
    "unknown_service": "the service code is not one of this department's services",
    "no_payer_identity": "no Emirates ID, trade licence, mobile or e-mail identifies the payer",
    "unreadable_file": "the row's file cannot be read whole, so the whole file is quarantined",
    "not_an_object": "an export API record is not a JSON object",
}
"""The last two are found before any check of ``CHECKS`` runs: by ``intact`` and the HTTP
connector."""


def _checks() -> tuple[tuple[Reason, str], ...]:
    checks: list[tuple[Reason, str]] = [("missing_field", name) for name in REQUIRED]
    checks += [
        ("no_payer_identity", "payer"),
        ("bad_timestamp", "occurred_at"),
        ("bad_amount", "amount"),
        ("negative_amount", "amount"),
    ]
    checks += [("unknown_code", field) for field in CODE_LISTS]
    checks.append(("unknown_service", "service_code"))
    return tuple(checks)


CHECKS = _checks()
"""(reason, field) of every check, in the order they apply."""

CHECK = "_check"
"""Index in ``CHECKS`` of a row's first failing check; null when the row is valid."""
REASON = "_reason"
DETAIL = "_detail"

# Timestamps outside this window are typos, not history.
EARLIEST = datetime(2000, 1, 1)


def _stripped(fmt: ExportFormat) -> list[str]:
    """The text fields every later use wants without surrounding white space."""
    native = fmt.timestamp == "native"
    return [n for n in (*REQUIRED, "bank") if not (native and n == "occurred_at")]


def _blank(name: str, stripped: Sequence[str]) -> pl.Expr:
    column = pl.col(name)
    if name in stripped:
        return column.is_null() | (column == "")
    if name == "occurred_at":  # a native timestamp: typed, never blank text
        return column.is_null()
    return column.is_null() | (column.str.strip_chars() == "")


def _timestamp(fmt: ExportFormat) -> pl.Expr:
    # Timestamps are all distinct: caching parsed texts would cost, not save.
    raw = pl.col("occurred_at")
    if fmt.timestamp == "native":
        return raw.cast(pl.Datetime("us"), strict=False)
    if fmt.timestamp == "iso8601":
        local = raw.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, cache=False)
        # A text matches at most one of the two patterns, so the costlier one (with an
        # offset) is only tried on texts the other did not match.
        with_offset = (
            pl.when(local.is_null())
            .then(raw)
            .str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, cache=False)
            .dt.convert_time_zone("Asia/Dubai")
            .dt.replace_time_zone(None)
        )
        return pl.coalesce(with_offset, local).cast(pl.Datetime("us"))
    parsed = raw.str.to_datetime(fmt.timestamp, strict=False, cache=False)
    return parsed.cast(pl.Datetime("us"))


def _amount_fils(fmt: ExportFormat) -> pl.Expr:
    text = pl.col("amount")
    if fmt.amount == "fils":
        return text.cast(pl.Int64(), strict=False)
    if fmt.amount == "aed_grouped":
        text = text.str.replace_all(",", "", literal=True)
    aed = text.cast(pl.Decimal(20, 2), strict=False)
    return (aed * 100).cast(pl.Int64(), strict=False)


def _code(field: str, labels: Mapping[str, str] | None, valid: list[str]) -> pl.Expr:
    """The field's code, null when its value is outside the code list."""
    if labels is None:
        # The value is the code; a blank value stays the blank text it was.
        mapping = {code: code for code in ["", *valid]}
    else:
        mapping = {label: code for label, code in labels.items() if code in valid}
    return pl.col(field).replace_strict(
        mapping, default=None, return_dtype=pl.Enum(list(dict.fromkeys(mapping.values())))
    )


def validate(
    canonical: pl.LazyFrame, fmt: ExportFormat, department: str, reference: Reference
) -> pl.LazyFrame:
    """Typed canonical rows (codes as enums) with ``_check``; the text fields of
    ``_stripped`` come out stripped."""
    services = list(dict.fromkeys(s.code for s in reference.department(department).services))
    stripped = _stripped(fmt)
    # In the reference's order, not a set's: the enums' categories, and so the dictionaries
    # of the store's parts, are then the same bytes in every process (a set of text is
    # ordered by the process's hash seed).
    lists = {
        field: list(dict.fromkeys(m.code for m in getattr(reference, name)))
        for field, name in CODE_LISTS.items()
    }
    now = datetime.now()
    typed = canonical.with_columns(pl.col(stripped).str.strip_chars()).with_columns(
        _timestamp(fmt).alias("_occurred_at"),
        _amount_fils(fmt).alias("amount_fils"),
        *[_code(f, fmt.codes.get(f), lists[f]).alias(f"_{f}") for f in CODE_LISTS],
        _code("service_code", None, services).alias("_service_code"),
    )

    conditions = [_blank(name, stripped) for name in REQUIRED]
    conditions.append(pl.all_horizontal(_blank(n, stripped) for n in PAYER_IDENTITY))
    occurred = pl.col("_occurred_at")
    conditions.append(occurred.is_null() | (occurred < EARLIEST) | (occurred > now))
    conditions.append(pl.col("amount_fils").is_null())
    conditions.append(pl.col("amount_fils") < 0)
    conditions += [~_blank(f, stripped) & pl.col(f"_{f}").is_null() for f in CODE_LISTS]
    # A blank service code failed missing_field already, so null here means unknown.
    conditions.append(pl.col("_service_code").is_null())
    assert len(conditions) == len(CHECKS)

    # The first failing check's index: a chain of when/then keeps the first that applies.
    check = pl.lit(None, pl.UInt8())
    for index, condition in reversed(list(enumerate(conditions))):
        check = pl.when(condition).then(pl.lit(index, pl.UInt8())).otherwise(check)
    return typed.with_columns(check.alias(CHECK))


def in_words(faults: pl.DataFrame) -> pl.DataFrame:
    """``faults`` with ``_check`` replaced by ``_reason`` and ``_detail``."""
    index = pl.col(CHECK)
    return faults.with_columns(
        index.replace_strict({i: r for i, (r, _) in enumerate(CHECKS)}).alias(REASON),
        index.replace_strict({i: f for i, (_, f) in enumerate(CHECKS)}).alias(DETAIL),
    ).drop(CHECK)


def duplicates(references: pl.Series) -> pl.Series:
    """True for each valid row whose (stripped) reference came earlier: a re-delivery,
    not a payment."""
    return ~references.is_first_distinct()
