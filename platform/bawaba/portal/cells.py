"""A published value as a reader sees it in a table: formatted, named, aligned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bawaba.catalog.model import Field
from bawaba.portal.i18n import UNITS, Translator
from bawaba.portal.labels import label_for


@dataclass(frozen=True)
class Cell:
    text: str
    code: str | None = None
    """The code behind a label (``RTA`` under "Roads and Transport Authority")."""
    numeric: bool = False
    """Aligned to the end of the cell, so digits line up."""
    missing: bool = False
    """Empty: withheld by disclosure control, or not applicable."""


def cell(t: Translator, field: Field, value: object) -> Cell:
    if value is None:
        return Cell(t("withheld") if field.role == "measure" else "", missing=True)
    if field.code_list is not None and isinstance(value, str):
        label = label_for(field.code_list, value)
        if label is not None:
            return Cell(t.text(label), code=value)
        return Cell(value)
    if field.role == "time" or isinstance(value, date):
        return Cell(str(value))
    if isinstance(value, bool):
        return Cell(t("yes") if value else t("no"))
    if isinstance(value, int | float | Decimal):
        return Cell(t.number(value), numeric=True)
    return Cell(str(value))


def unit_text(t: Translator, field: Field) -> str:
    return "" if field.unit is None else t.term(UNITS, field.unit)
