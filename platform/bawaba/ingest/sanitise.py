"""Stage S1: valid canonical rows in, analytic rows out (PRIVACY.md, "S1 — column classes").

The sanitiser reads only fields of the classes in ``contract.ANALYTIC_INPUTS``: identifiers
and free text are dropped before it sees the batch. The payer's identity is canonicalised,
pseudonymised with the keyed HMAC, and replaced by a dense surrogate; quasi-identifiers are
generalised (time to day and hour, location to community, amount to a band beside the exact
summand).
"""

from __future__ import annotations

import re
from functools import cache

import polars as pl

from bawaba.ingest.contract import ANALYTIC_INPUTS, ANALYTIC_SCHEMA, CODE_LISTS, FIELDS
from bawaba.ingest.payers import PayerIndex
from bawaba.ingest.pseudonym import pseudonyms
from bawaba.privacy.normalise import fold_digits
from bawaba.reference import Reference
from bawaba.reference.bands import band_of_fils

UNKNOWN = "UNKNOWN"


def _fold_digits(values: pl.Series) -> pl.Series:
    """Every decimal digit of any script as ASCII (PRIVACY.md: NFKC does not fold ٧٨٤).

    Almost every value is ASCII already, so only the few distinct others are folded, in
    Python, with ``unicodedata``; a vectorised replace over all of Unicode's digits would cost
    more than the whole rest of the stage.
    """
    exotic = values.filter(values.str.contains(r"[^\x00-\x7F]")).unique()
    if exotic.is_empty():
        return values
    folded = {v: fold_digits(v) for v in exotic.to_list()}
    return values.replace(folded)


def canonical_identity(batch: pl.DataFrame) -> pl.Series:
    """The payer's identity as one string, the same however a department formats it.

    Emirates ID, else the trade licence of the head office (a branch's licence carries the
    head office's before a ``/``, so a company's branches are one payer), else the mobile
    number, else the e-mail address (PRIVACY.md S1).
    """
    folded = batch.select(
        _fold_digits(batch.get_column(name)).alias(name)
        for name in ("emirates_id", "trade_licence", "mobile", "email")
    )
    eid = pl.col("emirates_id").str.replace_all(r"[^0-9]", "")
    eid_ok = (eid.str.len_chars() == 15) & eid.str.starts_with("784")
    licence = (
        pl.col("trade_licence")
        .str.to_uppercase()
        .str.replace_all(r"\s", "")
        .str.split("/")
        .list.first()
    )
    phone = pl.col("mobile").str.replace_all(r"[^0-9]", "").str.replace(r"^(00971|971|0)", "")
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    identity = pl.coalesce(
        pl.when(eid_ok).then(pl.lit("eid:") + eid),
        pl.when(licence.str.len_chars() > 0).then(pl.lit("licence:") + licence),
        pl.when(phone.str.len_chars() >= 8).then(pl.lit("phone:") + phone),
        pl.when(email.str.contains("@")).then(pl.lit("email:") + email),
    )
    return folded.select(identity.alias("identity")).to_series()


def _fold_area(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", text.casefold())).strip()


def _area_key() -> pl.Expr:
    return (
        pl.col("area")
        .str.to_lowercase()
        .str.replace_all(r"[-_]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


@cache
def _locations(reference: Reference) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(spelling -> community, community -> sector, sector -> emirate)."""
    spelling: dict[str, str] = {}
    for community in reference.communities:
        for name in (community.en, community.ar, community.code, *community.aliases):
            spelling[_fold_area(name)] = community.code
    sector = {c.code: c.sector for c in reference.communities}
    emirate = {s.code: s.emirate for s in reference.sectors}
    return spelling, sector, emirate


def s1_inputs() -> list[str]:
    """The canonical fields the sanitiser may read."""
    return [name for name, cls in FIELDS.items() if cls in ANALYTIC_INPUTS]


def sanitise(
    valid: pl.DataFrame, *, department: str, key: bytes, payers: PayerIndex, reference: Reference
) -> pl.DataFrame:
    """Analytic rows (``contract.ANALYTIC_SCHEMA``) for one batch of valid rows."""
    typed = ["_occurred_at", "amount_fils", "_service_code", *(f"_{f}" for f in CODE_LISTS)]
    batch = valid.select(*s1_inputs(), *typed)

    identity = canonical_identity(batch)
    distinct = identity.unique(maintain_order=True)
    keys = pl.Series("payer_key", pseudonyms(key, distinct.to_list()), dtype=pl.Binary())
    ids = pl.DataFrame({"identity": distinct, "payer_id": payers.assign(keys)})
    payer_id = (
        identity.to_frame("identity")
        .join(ids, on="identity", how="left", maintain_order="left")
        .get_column("payer_id")
    )

    spelling, sector_of, emirate_of = _locations(reference)
    dept = reference.department(department)
    category = {s.code: s.category for s in dept.services}
    community = _area_key().replace_strict(spelling, default=UNKNOWN, return_dtype=pl.String())
    sector = pl.col("community").replace_strict(sector_of, default=UNKNOWN)
    amount = pl.col("amount_fils")
    rating = pl.col("rating").str.strip_chars().cast(pl.Int8(), strict=False)

    out = (
        batch.with_columns(payer_id.alias("payer_id"))
        .select(
            pl.lit(department).alias("department"),
            pl.col("_service_code").alias("service"),
            pl.col("_service_code").replace_strict(category).alias("service_category"),
            pl.col("_record_type").alias("record_type"),
            pl.col("_status").alias("status"),
            pl.col("_channel").alias("channel"),
            (pl.col("_channel") != "counter").alias("electronic"),
            pl.col("_payment_method").alias("payment_method"),
            pl.when(pl.col("_payment_method") == "direct_debit")
            .then(pl.col("_bank"))
            .alias("bank"),
            pl.col("_occurred_at").dt.date().alias("txn_date"),
            pl.col("_occurred_at").dt.hour().alias("txn_hour"),
            amount,
            band_of_fils(amount).alias("amount_band"),
            pl.col("payer_id"),
            pl.col("_payer_type").alias("payer_type"),
            community.alias("community"),
            pl.when(rating.is_between(1, 5)).then(rating).alias("rating"),
        )
        .with_columns(sector.alias("sector"))
    )
    out = out.with_columns(
        pl.col("sector").replace_strict(emirate_of, default=UNKNOWN).alias("emirate")
    )
    return out.select(pl.col(n).cast(t) for n, t in ANALYTIC_SCHEMA.items()).sort(
        "txn_date", "txn_hour", maintain_order=True
    )
