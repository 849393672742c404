"""The code list behind each catalog dimension, as sets of valid codes."""

from __future__ import annotations

from bawaba.catalog.model import CodeListName
from bawaba.reference import Reference, codes, other_code


def code_set(reference: Reference, name: CodeListName) -> frozenset[str]:
    """Every valid code of ``name``; services include each department's folded OTHER."""
    if name == "services":
        return frozenset(s.code for s in reference.services) | {
            other_code(d.code) for d in reference.departments
        }
    return codes(getattr(reference, name))
