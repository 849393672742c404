"""README.md documents every setting: the table under "Settings" names each one."""

from __future__ import annotations

from pathlib import Path

from bawaba.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"BAWABA_{name.upper()}"
        for name in Settings.model_fields
        if f"`BAWABA_{name.upper()}`" not in text
    ]
    assert not missing, f"settings missing from README.md: {missing}"
