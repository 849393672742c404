"""Names for the codes in published cells, from the reference data, in both languages.

The datasets hold codes (``RTA``, ``mobile_app``); a reader wants "Roads and Transport
Authority". The labels come from the same reference data the pipelines validate against, so
a code in a published file always has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bawaba.catalog.model import CodeListName
from bawaba.reference import Code, Reference, load_reference, other_code


@dataclass(frozen=True)
class Label:
    en: str
    ar: str


_OTHER = Label("Other services of {name}", "خدمات أخرى لدى {name}")


def _members(reference: Reference, name: CodeListName) -> tuple[Code, ...]:
    if name == "services":
        return reference.services
    members: tuple[Code, ...] = getattr(reference, name)
    return members


@cache
def code_labels() -> dict[CodeListName, dict[str, Label]]:
    """Every code list: code -> its label. Built once per process, on first use."""
    reference = load_reference()
    names: tuple[CodeListName, ...] = (
        "departments",
        "services",
        "service_categories",
        "channels",
        "payment_methods",
        "banks",
        "payer_types",
        "amount_bands",
        "emirates",
        "sectors",
        "communities",
    )
    table = {name: {m.code: Label(m.en, m.ar) for m in _members(reference, name)} for name in names}
    # Rare services are published together as <DEPT>-OTHER (bawaba.publish.folding).
    for dept in reference.departments:
        table["services"][other_code(dept.code)] = Label(
            _OTHER.en.format(name=dept.en), _OTHER.ar.format(name=dept.ar)
        )
    return table


def label_for(code_list: CodeListName, code: str) -> Label | None:
    return code_labels()[code_list].get(code)
