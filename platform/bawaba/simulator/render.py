"""Numeric rows -> the internal record (RAW_FIELDS) with its personal data as text.

Per-payer text comes from the population; the per-row variety (how a mobile number or card
is written, which spelling of the community, what the remarks say) is drawn here, from the
month's own random stream, all vectorised with polars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from bawaba.reference import Reference
from bawaba.simulator import names
from bawaba.simulator.dialects import TimestampStyle
from bawaba.simulator.dirt import (
    BAD_TIMESTAMP,
    DUPLICATE,
    MISSING_AMOUNT,
    MISSING_FIELD,
    MISSING_SERVICE,
    MISSING_TIMESTAMP,
    UNKNOWN_SERVICE,
)
from bawaba.simulator.population import INDIVIDUAL, PAYER_TYPES, PLATE_LETTERS, Population
from bawaba.simulator.profiles import Profile
from bawaba.simulator.records import (
    CHANNELS,
    COUNTER,
    CREDIT_CARD,
    DIRECT_DEBIT,
    FAILED,
    METHODS,
    REFUND,
    Rows,
)

IntArray = npt.NDArray[np.int64]

ARABIC_DIGITS = [chr(0x0660 + d) for d in range(10)]
PLATE_CATEGORIES = frozenset({"fines", "transport", "registration", "licences"})
_IP_PREFIXES = (
    (94, 200, 8),
    (86, 96, 4),
    (2, 48, 4),
    (5, 30, 2),
    (91, 72, 4),
    (83, 110, 2),
    (217, 164, 2),
)


@dataclass(frozen=True)
class Areas:
    """Every spelling of every community met in feeds (English, Arabic, aliases)."""

    spellings: pl.Series
    offset: IntArray
    count: IntArray

    @staticmethod
    def of(reference: Reference) -> Areas:
        spellings: list[str] = []
        offset, count = [], []
        for community in reference.communities:
            variants = [community.en, community.ar, *community.aliases]
            offset.append(len(spellings))
            count.append(len(variants))
            spellings.extend(variants)
        return Areas(
            pl.Series(spellings, dtype=pl.String),
            np.array(offset, dtype=np.int64),
            np.array(count, dtype=np.int64),
        )


@dataclass(frozen=True)
class Context:
    """What rendering a department-year needs besides its rows."""

    code: str
    year: int
    profile: Profile
    service_codes: tuple[str, ...]
    """The department's services, then codes the reference does not know."""
    plate_services: npt.NDArray[np.bool_]
    banks: tuple[str, ...]
    timestamp: TimestampStyle
    areas: Areas


def _lookup(labels: tuple[str, ...], index: IntArray) -> pl.Series:
    """labels[index], null where index is negative."""
    table = pl.Series([*labels, None], dtype=pl.String)
    return table.gather(np.where(index < 0, len(labels), index))


def _choice(rng: np.random.Generator, n: int, p: list[float]) -> IntArray:
    """n draws of 0..len(p)-1 with probabilities proportional to p."""
    edges = np.cumsum(p[:-1]) / sum(p)
    return np.searchsorted(edges, rng.random(n), side="right").astype(np.int64)


def _variants(
    inputs: pl.DataFrame, choice: IntArray, variants: Sequence[pl.Expr | None]
) -> pl.Series:
    """Text of each row from ``variants[choice]`` (null for None or a negative choice).

    Each variant is evaluated over its own rows only, so writing a value several ways costs
    no more than writing it one way.
    """
    out = pl.repeat(None, inputs.height, dtype=pl.String, eager=True)
    for i, expr in enumerate(variants):
        rows = np.flatnonzero(choice == i)
        if expr is None or len(rows) == 0:
            continue
        out.scatter(rows, inputs[rows].select(expr.cast(pl.String)).to_series())
    return out


def _groups(column: str, width: int, separator: str) -> pl.Expr:
    """``1234 5678 9012 3456`` from ``1234567890123456``."""
    text = pl.col(column)
    return pl.concat_str([text.str.slice(i, 4) for i in range(0, width, 4)], separator=separator)


def render(
    rows: Rows, ctx: Context, population: Population, rng: np.random.Generator, offset: int = 0
) -> pl.DataFrame:
    """The internal record of each row, RAW_FIELDS plus ``_bad_timestamp``.

    Optional fields the department does not keep are left out. ``offset`` is the position of
    the first row among the numbered rows of the year: a re-delivered duplicate repeats its
    original (found through ``source``) exactly.
    """
    n = len(rows)
    size = population.size
    payer = rows.payer
    prof = ctx.profile
    missing = rows.dirty == MISSING_FIELD
    arabic = (rng.random(n) < prof.arabic_names).astype(np.int64)

    known = len(ctx.plate_services)
    service = np.where(rows.dirty == UNKNOWN_SERVICE, known + rows.detail, rows.svc)
    service = np.where(missing & (rows.detail == MISSING_SERVICE), -1, service)
    prefix = f"{ctx.code}-{ctx.year}-"

    frame = pl.DataFrame(
        {
            "record_id": pl.Series(rows.record_id, dtype=pl.Int64),
            "ref_no": pl.Series(rows.ref_no, dtype=pl.Int64),
            "orig_ref": pl.Series(rows.orig_ref, dtype=pl.Int64),
            "t": pl.Series(rows.t * 1_000_000, dtype=pl.Int64),
            "no_t": missing & (rows.detail == MISSING_TIMESTAMP),
            "amount": pl.Series(rows.amount, dtype=pl.Int64),
            "no_amount": missing & (rows.detail == MISSING_AMOUNT),
            "record_type": _lookup(("payment", "refund"), (rows.kind == REFUND).astype(np.int64)),
            "service_code": _lookup(ctx.service_codes, service),
            "channel": _lookup(CHANNELS, rows.channel),
            "payment_method": _lookup(METHODS, rows.method),
            "bank": _lookup(ctx.banks, rows.bank),
            "status": _lookup(("success", "failed"), (rows.kind == FAILED).astype(np.int64)),
            "payer_type": _lookup(PAYER_TYPES, rows.ptype),
            "payer_name": population.name.gather(payer + size * arabic),
            "eid": population.emirates_id.gather(payer),
            "eid_plain": rng.random(n) < 0.2,
            "trade_licence": population.trade_licence.gather(payer),
            "email": population.email.gather(payer),
            "address": population.address.gather(payer + size * arabic),
            "no_address": rng.random(n) < 0.08,
            "customer_id": population.customer_id.gather(payer),
            "electronic": rows.channel != COUNTER,
            "rating": pl.Series(np.where(rows.rating > 0, rows.rating, -1), dtype=pl.Int8),
        }
    )
    out = frame.select(
        "record_id",
        reference=pl.lit(prefix) + pl.col("ref_no").cast(pl.String).str.zfill(9),
        record_type="record_type",
        original_reference=pl.when(pl.col("orig_ref") >= 0).then(
            pl.lit(prefix) + pl.col("orig_ref").cast(pl.String).str.zfill(9)
        ),
        occurred_at=pl.when(~pl.col("no_t")).then(pl.col("t").cast(pl.Datetime("us"))),
        service_code="service_code",
        channel="channel",
        payment_method="payment_method",
        bank="bank",
        status="status",
        amount=pl.when(~pl.col("no_amount")).then("amount"),
        payer_type="payer_type",
        payer_name="payer_name",
        emirates_id=pl.when("eid_plain")
        .then(pl.col("eid").str.replace_all("-", "", literal=True))
        .otherwise("eid"),
        trade_licence="trade_licence",
        email="email",
        address=pl.when(~pl.col("no_address")).then("address"),
        customer_id=pl.when("electronic").then("customer_id"),
        rating=pl.when(pl.col("rating") > 0).then("rating"),
    )
    mobile = population.mobile.gather(payer).to_frame("m")
    card = population.card.gather(payer).to_frame("c")
    iban = population.iban.gather(payer).to_frame("i")
    extra = {
        "mobile": _variants(mobile, _choice(rng, n, [0.4, 0.25, 0.2, 0.1, 0.05]), _MOBILE),
        "card_number": _variants(
            card,
            np.where(rows.method == CREDIT_CARD, _choice(rng, n, [0.55, 0.3, 0.15]), -1),
            [pl.col("c"), _groups("c", 16, " "), _groups("c", 16, "-")],
        ),
        "iban": _variants(
            iban,
            np.where(rows.method == DIRECT_DEBIT, (rng.random(n) < 0.25).astype(np.int64), -1),
            [pl.col("i"), _groups("i", 24, " ")],
        ),
        "area": _areas(rows, ctx, population, rng),
        "_bad_timestamp": _bad_timestamps(rows, ctx.year, ctx.timestamp, rng),
    }
    if "account_number" in prof.optional:
        extra["account_number"] = _account_numbers(ctx.code, payer)
    if "plate_number" in prof.optional:
        extra["plate_number"] = _plates(rows, ctx, population, rng)
    if "ip_address" in prof.optional:
        extra["ip_address"] = _ips(rows, rng)
    out = out.with_columns(**extra)
    out = out.with_columns(remarks=_remarks(rows, out, rng))
    duplicate = np.flatnonzero(rows.dirty == DUPLICATE)
    if len(duplicate):
        take = np.arange(n)
        take[duplicate] = rows.source[duplicate] - offset
        out = out[take].with_columns(record_id=pl.Series(rows.record_id, dtype=pl.Int64))
    return out


def _mobile_styles() -> list[pl.Expr | None]:
    core = pl.col("m")
    operator, first, rest = core.str.slice(0, 2), core.str.slice(2, 3), core.str.slice(5, 4)
    return [
        pl.lit("0") + core,  # 0501234567
        pl.concat_str(pl.lit("+971"), operator, first, rest, separator=" "),  # +971 50 123 4567
        pl.lit("00971-") + operator + pl.lit("-") + core.str.slice(2),  # 00971-50-1234567
        pl.lit("971") + core,  # 971501234567
        pl.concat_str(pl.lit("0") + operator, first, rest, separator=" "),  # 050 123 4567
    ]


_MOBILE = _mobile_styles()


def _account_numbers(code: str, payer: IntArray) -> pl.Series:
    """The payer's contract or account number with the department (per-payer, stable)."""
    key = (payer * 48_271 + 1_013) % 10**9
    if code == "DEWA":  # 10-digit contract accounts
        text = pl.Series(2 * 10**9 + key, dtype=pl.Int64).cast(pl.String)
    elif code == "DLD":  # title deed: year/number
        text = (
            pl.Series(2000 + key % 13, dtype=pl.Int64).cast(pl.String)
            + "/"
            + pl.Series(key // 13 % 10**6, dtype=pl.Int64).cast(pl.String)
        )
    else:
        text = "AC" + pl.Series(key % 10**8, dtype=pl.Int64).cast(pl.String).str.zfill(8)
    return text.rename("account_number")


def _plates(
    rows: Rows, ctx: Context, population: Population, rng: np.random.Generator
) -> pl.Series:
    n = len(rows)
    individual = rows.ptype == INDIVIDUAL
    frame = pl.DataFrame(
        {
            "own": population.plate.gather(rows.payer),
            # a company's or government fleet: a different vehicle each time
            "letter": pl.Series(list(PLATE_LETTERS)).gather(rng.integers(0, len(PLATE_LETTERS), n)),
            "number": np.floor(10 ** rng.uniform(0, 5, n)).astype(np.int64),
        }
    )
    fleet = pl.concat_str(
        pl.lit("Dubai"), "letter", pl.col("number").cast(pl.String), separator=" "
    )
    style = _choice(rng, n, [0.72, 0.2, 0.08]) + np.where(individual, 0, 3)
    style = np.where(ctx.plate_services[rows.svc], style, -1)
    variants: list[pl.Expr | None] = []
    for plate in (pl.col("own"), fleet):
        variants += [
            plate,
            plate.str.replace("Dubai ", "", literal=True),
            plate.str.replace("Dubai", "دبي", literal=True),
        ]
    return _variants(frame, style, variants)


def _areas(rows: Rows, ctx: Context, population: Population, rng: np.random.Generator) -> pl.Series:
    """The community as typed: any spelling, odd case or spacing; sometimes nothing useful."""
    n = len(rows)
    areas = ctx.areas
    community = population.community[rows.payer]
    variant = areas.offset[community] + (rng.random(n) * areas.count[community]).astype(np.int64)
    junk = pl.Series(list(names.AREA_JUNK)).gather(rng.integers(0, len(names.AREA_JUNK), n))
    frame = pl.DataFrame({"typed": areas.spellings.gather(variant), "junk": junk})
    typed = pl.col("typed")
    style = _choice(rng, n, [0.015, 0.015, 0.07, 0.04, 0.03, 0.83])
    return _variants(
        frame,
        style,
        [
            None,
            pl.col("junk"),
            typed.str.to_lowercase(),
            typed.str.to_uppercase(),
            pl.lit(" ") + typed.str.replace_all(" ", "  ", literal=True) + pl.lit(" "),
            typed,
        ],
    )


def _ips(rows: Rows, rng: np.random.Generator) -> pl.Series:
    n = len(rows)
    prefixes = np.array(_IP_PREFIXES, dtype=np.int64)
    pick = prefixes[rng.integers(0, len(prefixes), n)]
    second = pick[:, 1] + (rng.random(n) * pick[:, 2]).astype(np.int64)
    online = np.isin(rows.channel, [CHANNELS.index(c) for c in ("internet", "mobile_app", "kiosk")])
    frame = pl.DataFrame(
        {"a": pick[:, 0], "b": second, "c": rng.integers(0, 256, n), "d": rng.integers(1, 255, n)}
    )
    return _variants(
        frame,
        np.where(online, 0, -1),
        [pl.concat_str(pl.col("a"), pl.col("b"), pl.col("c"), pl.col("d"), separator=".")],
    )


def _remarks(rows: Rows, out: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    """Mostly empty; sometimes innocent; sometimes repeating the payer's identifiers."""
    n = len(rows)
    kind = _choice(rng, n, [0.87, 0.08, 0.012, 0.008, 0.012, 0.008, 0.01, 0.0])
    kind = np.where(np.isin(kind, [2, 3]) & (rows.ptype != INDIVIDUAL), 1, kind)
    kind = np.where((kind == 5) & (rows.method != CREDIT_CARD), 1, kind)
    kind = np.where((rows.kind == REFUND) & (rng.random(n) < 0.7), 7, kind)
    frame = out.select("emirates_id", "mobile", "email", "card_number").with_columns(
        plain=pl.Series(list(names.REMARKS_PLAIN)).gather(
            rng.integers(0, len(names.REMARKS_PLAIN), n)
        ),
        refund=pl.Series(list(names.REFUND_REMARKS)).gather(
            rng.integers(0, len(names.REFUND_REMARKS), n)
        ),
        arabic=pl.Series(rng.random(n) < 0.4),
    )
    digits = pl.col("emirates_id").str.replace_all("-", "", literal=True)
    phone = pl.col("mobile").str.replace_all(r"\D", "").str.slice(-9)
    spoken = pl.concat_str(
        pl.lit("0") + phone.str.slice(0, 2),
        phone.str.slice(2, 3),
        phone.str.slice(5, 4),
        separator=" ",
    )
    return _variants(
        frame,
        kind,
        [
            None,
            pl.col("plain"),
            pl.lit("EID ")
            + pl.concat_str(
                digits.str.slice(0, 3),
                digits.str.slice(3, 4),
                digits.str.slice(7, 7),
                digits.str.slice(14, 1),
                separator="-",
            ),
            pl.lit("رقم الهوية ")
            + digits.str.replace_many([str(d) for d in range(10)], ARABIC_DIGITS),
            pl.when("arabic")
            .then(pl.lit("اتصل على ") + spoken)
            .otherwise(pl.lit("call ") + spoken),
            pl.lit("card ending ") + pl.col("card_number").str.replace_all(r"\D", "").str.slice(-4),
            pl.lit("customer email ") + pl.col("email"),
            pl.col("refund"),
        ],
    )


def _bad_timestamps(
    rows: Rows, year: int, style: TimestampStyle, rng: np.random.Generator
) -> pl.Series:
    """Impossible timestamp texts for the rows meant to carry one."""
    n = len(rows)
    bad = rows.dirty == BAD_TIMESTAMP
    frame = pl.DataFrame(
        {"h": (rows.t % 86_400) // 3600, "m": (rows.t % 3600) // 60, "d": rng.integers(1, 29, n)}
    )
    if style == "native":
        return pl.repeat(None, n, dtype=pl.String, eager=True)
    h, m, d = (pl.col(c).cast(pl.String).str.zfill(2) for c in ("h", "m", "d"))
    y = pl.lit(str(year))
    if style == "dmy_text":
        variants: list[pl.Expr | None] = [
            pl.concat_str(pl.lit("31/02/") + y, h + pl.lit(":") + m + pl.lit(":00"), separator=" "),
            pl.lit("N/A"),
            pl.concat_str(
                d + pl.lit("/13/") + y, h + pl.lit(":") + m + pl.lit(":00"), separator=" "
            ),
            pl.lit("00/00/0000 00:00:00"),
        ]
    else:
        tz = pl.lit("+04:00" if style == "iso_offset_text" else "")
        variants = [
            y + pl.lit("-02-31T") + h + pl.lit(":") + m + pl.lit(":00") + tz,
            pl.lit("N/A"),
            y + pl.lit("-13-01T00:00:00") + tz,
            pl.lit("0000-00-00T00:00:00") + tz,
        ]
    return _variants(frame, np.where(bad, rows.detail, -1), variants)
