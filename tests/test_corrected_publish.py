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

import pytest

from bawaba.core import versions
from bawaba.errors import BawabaError
from bawaba.ingest.store import read_state
from bawaba.settings import Settings
from conftest import ROOT, random_key
from test_ingest_cli import last_report
from test_ingest_deliveries import correct
from test_publish import bawaba

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


def test_the_gate_weighs_a_correction_by_what_it_changes(
    released: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break the hold-back on purpose: the gate must count as movers only the payers of
    the rows the correction changed, not every payer of the file it sent again."""
    from bawaba.publish import publisher, revisions

    settings = _copy(released, tmp_path)
    pointer = (settings.datasets_dir / versions.CURRENT).read_bytes()
    _correct_and_ingest(settings, _withdraw_last_row)
    monkeypatch.setattr(revisions, "_moves_enough", lambda late, datasets: True)
    with pytest.raises(BawabaError, match=r"revised cell\(s\) moved by fewer than k"):
        publisher.publish(settings)
    assert (settings.datasets_dir / versions.CURRENT).read_bytes() == pointer


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
