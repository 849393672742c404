"""Stage S1: valid canonical rows in, analytic rows out (PRIVACY.md, "S1 — column classes").

The sanitiser reads only fields of the classes in ``contract.ANALYTIC_INPUTS`` (``INPUTS``):
identifiers and free text are never selected for it. The payer's identity is canonicalised,
pseudonymised with the keyed HMAC, and replaced by a dense surrogate; quasi-identifiers are
generalised (time to day and hour, location to community, amount to a band beside the exact
summand).

A department is sanitised a piece of rows at a time (``generalise``), keeping of each
piece only compact columns (codes as enums) and the one identity string the payer id is
drawn from (``payer_ids``, then ``analytic``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache

import polars as pl

from bawaba.ingest.contract import (
    ANALYTIC_INPUTS,
    ANALYTIC_SCHEMA,
    CODE_LISTS,
    FIELDS,
    PAYER_IDENTITY,
)
from bawaba.ingest.payers import PayerIndex, lookup
from bawaba.ingest.pseudonym import pseudonyms
from bawaba.privacy.normalise import fold_digits
from bawaba.reference import Reference
from bawaba.reference.bands import band_of_fils

UNKNOWN = "UNKNOWN"
IDENTITY = "identity"

# The validator's typed versions of the coded fields, timestamp and amount.
TYPED = ("_occurred_at", "amount_fils", "_service_code", *(f"_{f}" for f in CODE_LISTS))


def s1_inputs() -> list[str]:
    """The canonical fields the sanitiser may read."""
    return [name for name, cls in FIELDS.items() if cls in ANALYTIC_INPUTS]


INPUTS = ("area", "rating", *PAYER_IDENTITY)
assert set(INPUTS) <= set(s1_inputs())


def _enum(values: Iterable[str]) -> pl.Enum:
    return pl.Enum(list(dict.fromkeys(values)))


def _fold_digits(values: pl.Series) -> pl.Series:
    """Every decimal digit of any script as ASCII (PRIVACY.md: NFKC does not fold ٧٨٤).

    Almost every value is ASCII already (as many bytes as characters), so only the others
    are folded, in Python, with ``unicodedata``; a vectorised replace over all of Unicode's
    digits would cost more than the whole rest of the stage.
    """
    at = (values.str.len_bytes() != values.str.len_chars()).arg_true()
    if at.is_empty():
        return values
    exotic = values.gather(at).to_list()
    folded = {v: fold_digits(v) for v in set(exotic)}
    return values.scatter(at, [folded[v] for v in exotic])


def _digits(values: pl.Series) -> pl.Series:
    """Only the ASCII digits of each value.

    Most values hold only digits and dashes, which a literal replace removes at a fraction of
    the cost of the regular expression; that runs on the rest only.
    """
    dashless = values.str.replace_all("-", "", literal=True)
    odd = dashless.str.contains("[^0-9]").arg_true()
    if odd.is_empty():
        return dashless
    return dashless.scatter(odd, dashless.gather(odd).str.replace_all("[^0-9]", ""))


def _eid(payer: pl.DataFrame) -> pl.Series:
    return _digits(payer.get_column("emirates_id"))


def _licence(payer: pl.DataFrame) -> pl.Series:
    # A branch's licence carries the head office's before a "/", so a company's branches
    # are one payer.
    licence = pl.col("trade_licence").str.to_uppercase().str.replace_all(r"\s", "")
    return payer.select(licence.str.split("/").list.first()).to_series()


def _phone(payer: pl.DataFrame) -> pl.Series:
    return _digits(payer.get_column("mobile")).str.replace(r"^(00971|971|0)", "")


def _email(payer: pl.DataFrame) -> pl.Series:
    return payer.get_column("email").str.strip_chars().str.to_lowercase()


# The payer's identity, in order of preference (PRIVACY.md S1): the field, a prefix, the
# canonical form of the field (which reads that field only), and whether that form
# identifies the payer.
_TIERS: tuple[
    tuple[str, str, Callable[[pl.DataFrame], pl.Series], Callable[[pl.Series], pl.Series]],
    ...,
] = (
    (
        "emirates_id",
        "eid:",
        _eid,
        lambda eid: (eid.str.len_chars() == 15) & eid.str.starts_with("784"),
    ),
    ("trade_licence", "licence:", _licence, lambda licence: licence.str.len_chars() > 0),
    ("mobile", "phone:", _phone, lambda phone: phone.str.len_chars() >= 8),
    ("email", "email:", _email, lambda email: email.str.contains("@", literal=True)),
)
assert tuple(tier[0] for tier in _TIERS) == PAYER_IDENTITY


def canonical_identity(batch: pl.DataFrame) -> pl.Series:
    """The payer's identity as one string, the same however a department formats it.

    Emirates ID, else the trade licence of the head office, else the mobile number, else
    the e-mail address (PRIVACY.md S1); null when none identifies the payer. Each field is
    worked out only for the rows the fields before it left unidentified, digits folded
    included: most rows stop at the Emirates ID.
    """
    rest = batch.select(PAYER_IDENTITY)
    at = pl.Series("at", range(batch.height), dtype=pl.UInt32())
    identity = pl.repeat(None, batch.height, dtype=pl.String(), eager=True).alias(IDENTITY)
    for name, prefix, canonical, identifies in _TIERS:
        form = canonical(rest.with_columns(_fold_digits(rest.get_column(name))))
        ok = identifies(form).fill_null(False)
        if ok.any():
            identity = identity.scatter(at.filter(ok), prefix + form.filter(ok))
        rest, at = rest.filter(~ok), at.filter(~ok)
        if rest.is_empty():
            break
    return identity


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


def _places(areas: pl.Series, reference: Reference) -> pl.DataFrame:
    """Community, sector and emirate of each area, worked out once per distinct spelling
    (a thousand or so, against millions of rows)."""
    spelling, sector_of, emirate_of = _locations(reference)
    community = _enum([*spelling.values(), UNKNOWN])
    sector = _enum([*sector_of.values(), UNKNOWN])
    emirate = _enum([*emirate_of.values(), UNKNOWN])
    table = (
        areas.unique()
        .to_frame("area")
        .with_columns(
            _area_key()
            .replace_strict(spelling, default=UNKNOWN, return_dtype=community)
            .alias("community")
        )
        .with_columns(
            pl.col("community")
            .replace_strict(sector_of, default=UNKNOWN, return_dtype=sector)
            .alias("sector")
        )
        .with_columns(
            pl.col("sector")
            .replace_strict(emirate_of, default=UNKNOWN, return_dtype=emirate)
            .alias("emirate")
        )
    )
    return (
        areas.to_frame("area")
        .join(table, on="area", how="left", nulls_equal=True, maintain_order="left")
        .drop("area")
    )


def generalise(valid: pl.DataFrame, *, department: str, reference: Reference) -> pl.DataFrame:
    """One batch of valid rows as analytic columns (codes still as enums), plus the payer's
    canonical identity; ``analytic`` finishes them. Reads ``INPUTS`` and ``TYPED`` only."""
    batch = valid.select(*INPUTS, *TYPED)
    category = {s.code: s.category for s in reference.department(department).services}
    amount = pl.col("amount_fils")
    rating = pl.col("rating").str.strip_chars().cast(pl.Int8(), strict=False)
    bands = _enum(b.code for b in reference.amount_bands)
    out = batch.select(
        pl.col("_service_code").alias("service"),
        pl.col("_service_code")
        .replace_strict(category, return_dtype=_enum(category.values()))
        .alias("service_category"),
        pl.col("_record_type").alias("record_type"),
        pl.col("_status").alias("status"),
        pl.col("_channel").alias("channel"),
        (pl.col("_channel") != "counter").alias("electronic"),
        pl.col("_payment_method").alias("payment_method"),
        pl.when(pl.col("_payment_method") == "direct_debit").then(pl.col("_bank")).alias("bank"),
        pl.col("_occurred_at").dt.date().alias("txn_date"),
        pl.col("_occurred_at").dt.hour().alias("txn_hour"),
        amount,
        band_of_fils(amount).cast(bands).alias("amount_band"),
        pl.col("_payer_type").alias("payer_type"),
        pl.when(rating.is_between(1, 5)).then(rating).alias("rating"),
    )
    places = _places(batch.get_column("area"), reference)
    return pl.concat([out, places, canonical_identity(batch).to_frame()], how="horizontal")


def payer_ids(identity: pl.Series, *, key: bytes, payers: PayerIndex) -> pl.Series:
    """The dense payer id of each identity, drawn in order of first appearance.

    Only identities this run has not met yet are pseudonymised: the HMAC is the costliest
    step per payer, and a payer meets many departments."""
    distinct = identity.unique(maintain_order=True)
    known = payers.recall(distinct)
    unseen = known.is_null()
    if unseen.any():
        new = distinct.filter(unseen)
        keys = pl.Series("payer_key", pseudonyms(key, new.to_list()), dtype=pl.Binary())
        assigned = payers.assign(keys)
        payers.remember(new, assigned)
        known = known.scatter(unseen.arg_true(), assigned)
    return lookup(identity, pl.DataFrame({IDENTITY: distinct, "payer_id": known}))


def analytic(generalised: pl.DataFrame, payer_id: pl.Series, department: str) -> pl.DataFrame:
    """The analytic rows (``contract.ANALYTIC_SCHEMA``) of accepted rows, in their order.
    Codes stay enums: ``store.write_part`` stores them as the text they are."""
    out = generalised.with_columns(
        pl.lit(department, dtype=pl.Enum([department])).alias("department"), payer_id
    )

    def typed(name: str, dtype: pl.DataType) -> pl.Expr:
        if dtype == pl.String() and isinstance(out.schema[name], pl.Enum):
            return pl.col(name)
        return pl.col(name).cast(dtype)

    columns = [typed(n, t) for n, t in ANALYTIC_SCHEMA.items()]
    return out.select(columns)
