"""The internal record -> a department's own export (dialect), written atomically.

Column choice and order follow the dialect and RAW_FIELDS, minus the optional fields the
department does not keep, with its own renames; timestamps, amounts and coded values are
written as the dialect's docstrings say.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from bawaba.simulator.dialects import (
    OPTIONAL_FIELDS,
    RAW_FIELDS,
    AmountStyle,
    Dialect,
    TimestampStyle,
)
from bawaba.simulator.profiles import Profile

EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
HTTP_RECORDS = "records.parquet"
BAD_TIMESTAMP = "_bad_timestamp"


def export_columns(dialect: Dialect, prof: Profile) -> list[tuple[str, str]]:
    """(internal field, the department's column name), in export order."""
    return [
        (name, prof.renames.get(name, dialect.columns[name]))
        for name in RAW_FIELDS
        if name not in OPTIONAL_FIELDS or name in prof.optional
    ]


def _timestamp(style: TimestampStyle) -> pl.Expr:
    value = pl.col("occurred_at")
    if style == "native":
        return value
    text = {
        "dmy_text": value.dt.strftime("%d/%m/%Y %H:%M:%S"),
        "iso_text": value.dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "iso_offset_text": value.dt.strftime("%Y-%m-%dT%H:%M:%S") + pl.lit("+04:00"),
    }[style]
    return pl.coalesce(pl.col(BAD_TIMESTAMP), text)


def _grouped(fils: pl.Expr) -> pl.Expr:
    """``-1,234,567.50`` from fils."""
    whole = fils.abs() // 100

    def part(divisor: int) -> pl.Expr:
        return (whole // divisor % 1000).cast(pl.String)

    def padded(divisor: int) -> pl.Expr:
        return part(divisor).str.zfill(3)

    integer = (
        pl.when(whole >= 10**9)
        .then(
            pl.concat_str(
                (whole // 10**9).cast(pl.String),
                padded(10**6),
                padded(1000),
                padded(1),
                separator=",",
            )
        )
        .when(whole >= 10**6)
        .then(pl.concat_str(part(10**6), padded(1000), padded(1), separator=","))
        .when(whole >= 1000)
        .then(pl.concat_str(part(1000), padded(1), separator=","))
        .otherwise(part(1))
    )
    sign = pl.when(fils < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return sign + integer + pl.lit(".") + (fils.abs() % 100).cast(pl.String).str.zfill(2)


def _amount(style: AmountStyle) -> pl.Expr:
    fils = pl.col("amount")
    if style == "aed_grouped_text":
        return _grouped(fils)
    if style == "fils_integer":
        return fils
    if style == "aed_float":
        return fils / 100
    return (fils.cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2))


def to_dialect(frame: pl.DataFrame, dialect: Dialect, prof: Profile) -> pl.DataFrame:
    """The department's rows as its system exports them."""
    exprs = []
    for name, column in export_columns(dialect, prof):
        if name == "occurred_at":
            expr = _timestamp(dialect.timestamp)
        elif name == "amount":
            expr = _amount(dialect.amount)
        elif name in dialect.values:
            mapping = dialect.values[name]
            numeric = all(isinstance(v, int) for v in mapping.values())
            expr = pl.col(name).replace_strict(
                dict(mapping), return_dtype=pl.Int16 if numeric else pl.String
            )
        else:
            expr = pl.col(name)
        exprs.append(expr.alias(column))
    return frame.select(exprs)


def month_file(landing_dir: Path, code: str, year: int, month: int, dialect: Dialect) -> Path:
    return landing_dir / code / f"{code}_{year}-{month:02d}.{EXTENSIONS[dialect.format]}"


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block succeeds.

    A reader sees the old file or the new one, never half a file. No fsync: simulated data
    is regenerated rather than recovered after a crash.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _encode(frame: pl.DataFrame, target: Path | io.BytesIO, fmt: str) -> None:
    if fmt == "csv":
        frame.write_csv(target, include_bom=True)
    elif fmt == "jsonl":
        frame.write_ndjson(target)
    else:
        frame.write_parquet(target, compression="zstd", compression_level=1)


def write(frame: pl.DataFrame, target: Path, fmt: str) -> None:
    """Replace ``target`` with ``frame`` in the format, atomically."""
    with replacing(target) as temporary:
        _encode(frame, temporary, fmt)


def write_if_changed(frame: pl.DataFrame, target: Path, fmt: str) -> bool:
    """``write``, unless ``target`` holds these very bytes already (a delivery made once is
    not made again); whether it wrote."""
    encoded = io.BytesIO()
    _encode(frame, encoded, fmt)
    data = encoded.getvalue()
    if target.exists() and target.read_bytes() == data:
        return False
    with replacing(target) as temporary:
        temporary.write_bytes(data)
    return True
