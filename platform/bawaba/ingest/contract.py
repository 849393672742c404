"""The canonical transaction schema every department feed is mapped onto.

Each canonical field has a privacy class that decides, in one place, what stage S1 does with
it (PRIVACY.md, "S1 — column classes"). Only fields of the classes in ``ANALYTIC_INPUTS``
are ever read by the sanitiser; every other field is dropped unread, so a department adding a
column, or putting personal data in a field we drop, cannot leak it.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

FieldClass = Literal[
    "source",  # the department system's own bookkeeping (sequence number): used, not kept
    "identifier",  # direct identifier: dropped
    "payer_identity",  # read only to build the keyed payer pseudonym, then dropped
    "free_text",  # never published, never carried
    "timestamp",  # generalised to day and hour
    "amount",  # kept as an exact summand (fils)
    "code",  # closed vocabulary: must map to a reference code list
    "location",  # generalised to community / sector / emirate
    "rating",  # 1-5 satisfaction score
]

FIELDS: dict[str, FieldClass] = {
    "source_seq": "source",
    "reference": "identifier",
    "record_type": "code",
    "original_reference": "identifier",
    "occurred_at": "timestamp",
    "service_code": "code",
    "channel": "code",
    "payment_method": "code",
    "bank": "code",
    "status": "code",
    "amount": "amount",
    "payer_type": "code",
    "payer_name": "identifier",
    "emirates_id": "payer_identity",
    "trade_licence": "payer_identity",
    "mobile": "payer_identity",
    "email": "payer_identity",
    "card_number": "identifier",
    "iban": "identifier",
    "account_number": "identifier",
    "plate_number": "identifier",
    "address": "identifier",
    "area": "location",
    "customer_id": "identifier",
    "ip_address": "identifier",
    "remarks": "free_text",
    "rating": "rating",
}

# Every field a valid row must have; a row without one goes to quarantine (missing_field).
REQUIRED: tuple[str, ...] = (
    "reference",
    "record_type",
    "occurred_at",
    "service_code",
    "channel",
    "payment_method",
    "status",
    "amount",
    "payer_type",
)

# Any one of these identifies the payer, in this order of preference (PRIVACY.md S1).
PAYER_IDENTITY: tuple[str, ...] = ("emirates_id", "trade_licence", "mobile", "email")

# The classes the sanitiser may read; identifiers and free text are never among them.
ANALYTIC_INPUTS: frozenset[FieldClass] = frozenset(
    {"timestamp", "amount", "code", "location", "rating", "payer_identity"}
)

# Coded fields and the reference code list each must belong to.
CODE_LISTS: dict[str, str] = {
    "record_type": "record_types",
    "channel": "channels",
    "payment_method": "payment_methods",
    "bank": "banks",
    "status": "statuses",
    "payer_type": "payer_types",
}

# The analytic store: one row per accepted transaction, nothing that identifies anyone.
ANALYTIC_SCHEMA: dict[str, pl.DataType] = {
    "department": pl.String(),
    "service": pl.String(),
    "service_category": pl.String(),
    "record_type": pl.String(),
    "status": pl.String(),
    "channel": pl.String(),
    "electronic": pl.Boolean(),
    "payment_method": pl.String(),
    "bank": pl.String(),
    "txn_date": pl.Date(),
    "txn_hour": pl.Int8(),
    "amount_fils": pl.Int64(),
    "amount_band": pl.String(),
    "payer_id": pl.UInt32(),
    "payer_type": pl.String(),
    "emirate": pl.String(),
    "sector": pl.String(),
    "community": pl.String(),
    "rating": pl.Int8(),
}
"""``payer_id`` is a dense surrogate assigned in order of first appearance: it lets later
stages count distinct payers and group a company's branches, and, unlike the keyed
pseudonym behind it, it does not change when the key or any identifier value changes."""
