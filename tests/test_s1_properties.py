"""Stage S1 as properties: whatever the feed, the analytic store holds nobody.

PRIVACY.md, "Tests this needs": no identifier value (any digit script, any separators)
reaches the store, and the analytic rows are byte-identical when every identifier value
changes, payers are relabelled, or the key changes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bawaba.ingest.registry import load_pipelines
from bawaba.ingest.runner import run_pipelines
from bawaba.ingest.store import read_state
from bawaba.privacy.detect import contains_pii
from bawaba.privacy.normalise import normalise
from bawaba.reference import load_reference
from bawaba.settings import Settings
from conftest import ROOT, random_key
from feeds import write_jsonl
from strategies import card_numbers, ibans, styled, uae_mobiles

DEPARTMENT = "RTA"  # its vendor format is JSON lines, which the feed writer speaks


@dataclass(frozen=True)
class Payer:
    payer_type: str
    emirates_id: str | None
    trade_licence: str | None
    mobile: str
    email: str
    name: str
    card: str
    iban: str


def _eid(number: int) -> str:
    return f"784-1980-{number:07d}-{number % 10}"


@st.composite
def payers(draw: st.DrawFn, numbers: list[int]) -> list[Payer]:
    """Payers with distinct identities (numbers give each a distinct Emirates ID or
    licence), rendered in any digit script with any separators."""
    out = []
    for number in numbers:
        company = draw(st.booleans())
        branch = draw(st.sampled_from(["", "/01", "/02"]))
        out.append(
            Payer(
                payer_type="company" if company else "individual",
                emirates_id=None if company else draw(styled(st.just(_eid(number)))),
                trade_licence=f"CN-{number:07d}{branch}" if company else None,
                mobile=draw(styled(uae_mobiles())),
                email=f"p{number}.{draw(st.sampled_from(['x', 'y']))}@mail.ae",
                name=draw(
                    st.sampled_from(
                        ["Fatima Al Mansoori", "فاطمة المنصوري", "John Carter", "Acme Trading LLC"]
                    )
                ),
                card=draw(styled(card_numbers())),
                iban=draw(styled(ibans())),
            )
        )
    return out


@dataclass(frozen=True)
class Transaction:
    payer: int
    service: str
    channel: str
    method: str
    fils: int
    at: datetime
    area: str
    remark: int  # which identifier the free-text remark repeats, if any


@st.composite
def feeds(draw: st.DrawFn) -> tuple[list[Payer], list[Transaction]]:
    numbers = draw(st.lists(st.integers(1, 9_999_999), min_size=1, max_size=8, unique=True))
    people = draw(payers(numbers))
    services = [s.code for s in load_reference().department(DEPARTMENT).services if s.online]
    areas = ["Al Barsha 1", "البرشاء 1", "  al-rigga ", "Nowhere Street 5", ""]
    transaction = st.builds(
        Transaction,
        payer=st.integers(0, len(people) - 1),
        service=st.sampled_from(services),
        channel=st.sampled_from(["internet", "mobile_app", "counter"]),
        method=st.sampled_from(["credit_card", "edirham", "direct_debit"]),
        fils=st.integers(0, 10_000_000),
        at=st.datetimes(datetime(2012, 1, 1), datetime(2013, 12, 31)),
        area=st.sampled_from(areas),
        remark=st.integers(0, 4),
    )
    return people, draw(st.lists(transaction, min_size=1, max_size=30))


def _remark(payer: Payer, which: int) -> str | None:
    return [
        None,
        f"EID {payer.emirates_id}",
        f"call {payer.mobile}",
        f"card {payer.card}",
        f"رقم الحساب {payer.iban} {payer.email}",
    ][which]


def _rows(people: list[Payer], txns: list[Transaction]) -> list[dict[str, object]]:
    rows = []
    for i, t in enumerate(txns):
        p = people[t.payer]
        rows.append(
            {
                "source_seq": i + 1,
                "reference": f"R-{i}",
                "record_type": "payment",
                "original_reference": None,
                "occurred_at": t.at.isoformat(timespec="seconds"),
                "service_code": t.service,
                "channel": t.channel,
                "payment_method": t.method,
                "bank": "DIB" if t.method == "direct_debit" else None,
                "status": "success",
                "amount": t.fils,
                "payer_type": p.payer_type,
                "payer_name": p.name,
                "emirates_id": p.emirates_id,
                "trade_licence": p.trade_licence,
                "mobile": p.mobile,
                "email": p.email,
                "card_number": p.card,
                "iban": p.iban,
                "account_number": None,
                "plate_number": "Dubai A 12345",
                "address": "Villa 7",
                "area": t.area,
                "customer_id": f"user{t.payer}",
                "ip_address": "10.1.2.3",
                "remarks": _remark(p, t.remark),
                "rating": 1 + i % 5,
            }
        )
    return rows


def _ingest(root: Path, people: list[Payer], txns: list[Transaction], key: str) -> Settings:
    settings = Settings(var_dir=root / "var", pipelines_dir=ROOT / "pipelines", pseudonym_key=key)  # type: ignore[arg-type]
    fmt = load_pipelines(settings.pipelines_dir)[DEPARTMENT].format
    write_jsonl(
        settings.landing_dir / DEPARTMENT / f"{DEPARTMENT}_2013-01.jsonl", fmt, _rows(people, txns)
    )
    report = run_pipelines(settings, [DEPARTMENT])
    assert report.departments[0].error is None
    assert report.departments[0].balanced
    return settings


def _store_bytes(settings: Settings) -> bytes:
    parts = read_state(settings).parts.get(DEPARTMENT, [])
    return b"".join((settings.store_dir / p).read_bytes() for p in parts)


def _identifier_values(people: list[Payer]) -> list[str]:
    values = []
    for p in people:
        values += [
            v
            for v in (p.emirates_id, p.trade_licence, p.mobile, p.email, p.name, p.card, p.iban)
            if v
        ]
    return values


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", normalise(text))


@given(feed=feeds())
def test_no_identifier_reaches_the_analytic_store(
    tmp_path_factory: pytest.TempPathFactory, feed: tuple[list[Payer], list[Transaction]]
) -> None:
    people, txns = feed
    settings = _ingest(tmp_path_factory.mktemp("s1"), people, txns, random_key())
    cells: list[str] = []
    text_cells: list[str] = []
    for part in read_state(settings).parts.get(DEPARTMENT, []):
        frame = pl.read_parquet(settings.store_dir / part)
        cells += [str(v) for column in frame.columns for v in frame[column].to_list()]
        cells += frame.columns
        # Amounts and dates are digits by nature; an identifier could only hide in text.
        text_cells += [
            v
            for c in frame.columns
            if frame.schema[c] == pl.String
            for v in frame[c].drop_nulls().to_list()
        ]
    store_text = "\n".join(cells)
    store_digits = [_digits(c) for c in text_cells]
    for value in _identifier_values(people):
        assert normalise(value) not in store_text
        digits = _digits(value)
        if len(digits) >= 7:
            assert not any(digits in d for d in store_digits)
    assert not any(contains_pii(c) for c in cells)
    others = [settings.store_dir / "manifest.json", *settings.runs_dir.glob("*.json")]
    for path in others:
        text = path.read_text(encoding="utf-8")
        assert not any(normalise(v) in text for v in _identifier_values(people))


@given(feed=feeds(), shuffle_seed=st.integers(0, 2**32 - 1), data=st.data())
def test_store_is_byte_identical_when_identifiers_payers_or_key_change(
    tmp_path_factory: pytest.TempPathFactory,
    feed: tuple[list[Payer], list[Transaction]],
    shuffle_seed: int,
    data: st.DataObject,
) -> None:
    people, txns = feed
    original = _store_bytes(_ingest(tmp_path_factory.mktemp("a"), people, txns, random_key()))

    # Every identifier value changes: fresh numbers, scripts, separators, names, cards.
    fresh_numbers = data.draw(
        st.lists(st.integers(1, 9_999_999), min_size=len(people), max_size=len(people), unique=True)
    )
    renamed = data.draw(payers(fresh_numbers))
    renamed = [
        replace(
            new,
            payer_type=old.payer_type,
            emirates_id=None if old.emirates_id is None else new.emirates_id or _eid(n),
            trade_licence=None if old.trade_licence is None else f"CN-{n:07d}",
        )
        for old, new, n in zip(people, renamed, fresh_numbers, strict=True)
    ]
    # Payers relabelled: the same people under each other's identities.
    order = list(range(len(people)))
    random.Random(shuffle_seed).shuffle(order)
    relabelled = [renamed[i] for i in order]
    moved = [replace(t, payer=order.index(t.payer)) for t in txns]

    changed = _store_bytes(_ingest(tmp_path_factory.mktemp("b"), relabelled, moved, random_key()))
    assert changed == original
