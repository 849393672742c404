"""A corrected re-delivery of a month already published, through the CLI (issue 13).

The store puts a corrected file's rows in the place of the earlier ones at once, but every
reader still holds the version that published the earlier ones. So a correction is weighed
by what it changes, not by how many rows it sends again: one that moves some cell by fewer
than k payers waits, and its month stays published as it was; one that moves every cell it
touches by k payers is published as a revision, and the rows it took out are never
published again.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl
import pytest

from bawaba.core import versions
from bawaba.errors import BawabaError
from bawaba.ingest.store import read_state
from bawaba.settings import Settings
from conftest import ROOT, random_key
from test_ingest_cli import last_report
from test_ingest_deliveries import correct
from test_publish import _last_publish_report, bawaba

pytestmark = pytest.mark.xdist_group("corrected-publish")

MONTH = "2012-02"
VICTIM = f"DP_{MONTH}.csv"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """DP's first quarter of 2012, published once."""
    root = tmp_path_factory.mktemp("corrected")
    settings = Settings(
        var_dir=root / "var",
        datasets_dir=root / "datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.05,
        pseudonym_key=random_key(),
    )  # type: ignore[arg-type]
    bawaba(settings, "simulate", "--through", "2012-03", "--department", "DP")
    bawaba(settings, "pipelines", "run", "DP")
    bawaba(settings, "publish")
    return settings


def _copy(settings: Settings, tmp_path: Path) -> Settings:
    for name in ("var", "datasets"):
        shutil.copytree(settings.var_dir.parent / name, tmp_path / name, symlinks=True)
    return settings.model_copy(
        update={"var_dir": tmp_path / "var", "datasets_dir": tmp_path / "datasets"}
    )


def _rewrite(path: Path, change: Callable[[list[list[str]]], list[list[str]]]) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(change(rows))


def _withdraw_last_row(path: Path) -> None:
    _rewrite(path, lambda rows: rows[:-1])


def _annotate(path: Path) -> None:
    """A correction of a column no published figure reads: the notes of the first row."""

    def note(rows: list[list[str]]) -> list[list[str]]:
        rows[1][rows[0].index("ملاحظات")] = "تصحيح"
        return rows

    _rewrite(path, note)


def _correct_and_ingest(settings: Settings, change: Callable[[Path], None]) -> None:
    change(settings.landing_dir / "DP" / VICTIM)
    bawaba(settings, "pipelines", "run", "DP")
    revised = last_report(settings)["departments"][0]["revised"]  # type: ignore[index]
    assert [r["file"] for r in revised] == [VICTIM]


def _current(settings: Settings) -> dict[str, str]:
    release = versions.read_release(settings.datasets_dir)
    assert release is not None
    return release.datasets


def test_a_correction_of_few_payers_waits_and_its_month_stays_as_published(
    released: Settings, tmp_path: Path
) -> None:
    settings = _copy(released, tmp_path)
    before = _current(settings)
    _correct_and_ingest(settings, partial(correct, amount="7.00"))
    # The premise: the store no longer holds the rows the release published.
    assert read_state(settings).retracted["DP"]

    for _ in range(2):  # and again at the next publish, with nothing new
        done = bawaba(settings, "publish")
        assert f"held back: the late rows of {MONTH}" in done.stdout
        assert _current(settings) == before, done.stdout


@pytest.mark.parametrize(
    ("change", "withheld"),
    [
        pytest.param(_withdraw_last_row, None, id="a-row-withdrawn"),
        # An amount corrected into a band the quarter had no payment in: a cell new to a
        # period published before, in a table the publish withholds (audited as the reader
        # has it, the new cell hidden).
        pytest.param(
            partial(correct, amount="7.00"), "epay-amount-bands", id="an-amount-into-a-new-band"
        ),
    ],
)
def test_the_gate_weighs_a_correction_by_what_it_changes(
    released: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Path], None],
    withheld: str | None,
) -> None:
    """Break the hold-back on purpose: the gate must count as movers only the payers of
    the rows the correction changed, not every payer of the file it sent again."""
    from bawaba.publish import publisher, revisions

    settings = _copy(released, tmp_path)
    pointer = (settings.datasets_dir / versions.CURRENT).read_bytes()
    _correct_and_ingest(settings, change)
    monkeypatch.setattr(revisions, "_moves_enough", lambda late, datasets: True)
    with pytest.raises(BawabaError, match=r"revised cell\(s\) moved by fewer than k"):
        publisher.publish(settings)
    assert (settings.datasets_dir / versions.CURRENT).read_bytes() == pointer
    gated = {result["dataset"] for result in _last_publish_report(settings)["gate"]}
    assert "epay-monthly" in gated
    assert withheld is None or withheld not in gated


def test_a_correction_sent_again_unchanged_in_what_is_published_is_taken_in(
    released: Settings, tmp_path: Path
) -> None:
    """Weighed by its rows, a file sent again would move every cell of its month by all its
    payers' rows, small cells too, and wait for ever; weighed by what it changes, it changes
    nothing and is taken in. The correction after it then replaces its rows, not those the
    first release published."""
    settings = _copy(released, tmp_path)
    before = _current(settings)
    _correct_and_ingest(settings, _annotate)
    done = bawaba(settings, "publish")
    assert "held back" not in done.stdout
    assert _current(settings) == before, done.stdout

    _correct_and_ingest(settings, partial(correct, amount="7.00"))
    done = bawaba(settings, "publish")
    assert f"held back: the late rows of {MONTH}" in done.stdout
    assert _current(settings) == before, done.stdout


IDENTITY = (
    "اسم المتعامل",
    "رقم الهوية",
    "الرخصة التجارية",
    "الهاتف المتحرك",
    "البريد الإلكتروني",
    "رقم البطاقة",
    "رقم الآيبان",
    "رقم اللوحة",
    "العنوان",
    "المنطقة",
    "رقم المتعامل",
)
"""The columns that say who made a payment in DP's export."""


def _add_payments_of_one_cell(payers: int) -> Callable[[list[list[str]]], list[list[str]]]:
    """A correction adding ``payers`` payments identical but for who made them (one day,
    hour, service, channel, method, amount): every cell they touch, in every table, moves
    by ``payers`` payers, so the revision rule lets them in."""

    def add(rows: list[list[str]]) -> list[list[str]]:
        header, records = rows[0], rows[1:]
        column = {name: header.index(name) for name in header}
        individual = [r for r in records if r[column["نوع المتعامل"]] == "فرد"]
        base = next(
            r
            for r in individual
            if (r[column["نوع الحركة"]], r[column["الحالة"]]) == ("دفع", "ناجحة")
        )
        donors = {r[column["رقم الهوية"]]: r for r in individual}
        donors.pop(base[column["رقم الهوية"]])
        added = []
        for number, donor in enumerate(list(donors.values())[:payers], start=9_000_001):
            row = list(base)
            for name in IDENTITY:
                row[column[name]] = donor[column[name]]
            row[column["رقم السجل"]] = str(number)
            row[column["رقم المعاملة"]] = f"DP-2012-{number:09d}"
            added.append(row)
        assert len(added) == payers
        return [*rows, *added]

    return add


def _cell(settings: Settings, month: str) -> pl.DataFrame:
    """DP's published payments of ``month`` in epay-monthly, by channel."""
    version = _current(settings)["epay-monthly"]
    frame = pl.read_parquet(settings.datasets_dir / "epay-monthly" / version / versions.DATA)
    chosen = frame.filter((pl.col("department") == "DP") & (pl.col("month") == month))
    return chosen.select("channel", "transactions").sort("channel")


def test_a_correction_of_k_payers_is_a_revision_and_what_it_took_out_stays_out(
    released: Settings, tmp_path: Path
) -> None:
    settings = _copy(released, tmp_path)
    victim = settings.landing_dir / "DP" / VICTIM
    original = victim.read_bytes()
    before = _cell(settings, MONTH)
    assert before.get_column("transactions").null_count() == 0, "the month's cells are shown"

    _correct_and_ingest(settings, lambda path: _rewrite(path, _add_payments_of_one_cell(15)))
    done = bawaba(settings, "publish")
    assert "held back" not in done.stdout
    assert f"epay-monthly v2: revises {MONTH}" in done.stdout, done.stdout
    grown = _cell(settings, MONTH)
    moved = grown.get_column("transactions") - before.get_column("transactions")
    assert sorted(moved.to_list()) == [0] * (before.height - 1) + [15]

    # Sent again as it was first: the fifteen payments are withdrawn, as a revision of
    # fifteen payers, and the rows the first correction took out are not published again.
    _correct_and_ingest(settings, lambda path: path.write_bytes(original))
    done = bawaba(settings, "publish")
    assert "held back" not in done.stdout
    assert f"epay-monthly v3: revises {MONTH}" in done.stdout, done.stdout
    assert _cell(settings, MONTH).equals(before)
    release = _current(settings)
    bawaba(settings, "publish")
    assert _current(settings) == release
