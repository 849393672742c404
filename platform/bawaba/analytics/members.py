"""Filters on whole dimension members, and the refusal of everything else.

A filter names members of a code list (``department=RTA`` or ``department=RTA,DEWA``); an
answer is then built from those members' cells only. There is no negation, no range and
no pattern: "all but X" would let two answers be differenced down to X's cells, which the
published tables protect only as whole members (PRIVACY.md, S3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from bawaba.catalog.model import CodeListName
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference
from bawaba.serving.problems import BadParameter

# The dimension filters the analytics take, by the code list their members come from.
CODE_LISTS: dict[str, CodeListName] = {
    "department": "departments",
    "channel": "channels",
    "service": "services",
    "payment_method": "payment_methods",
}
MAX_MEMBERS = 50
_LISTED = 40
"""A hint lists at most this many valid members; longer lists point to where they are."""


@cache
def valid_members(dimension: str) -> tuple[str, ...]:
    """Every code of ``dimension``'s code list, sorted, as the publish gate knows them."""
    return tuple(sorted(code_set(load_reference(), CODE_LISTS[dimension])))


def _hint(dimension: str, wrong: str) -> str:
    valid = valid_members(dimension)
    if len(valid) <= _LISTED:
        return f"the valid {dimension} values are: {', '.join(valid)}"
    # ~250 services: name the ones of the department the code points at, if any.
    prefix = wrong.split("-", 1)[0].upper() + "-"
    near = [v for v in valid if v.startswith(prefix)]
    if near:
        return f"the {dimension} values starting {prefix} are: {', '.join(near)}"
    departments = ", ".join(f"{d}-…" for d in valid_members("department"))
    return (
        f"{dimension} values are codes such as {valid[0]}, one of {len(valid)} listed by "
        f"/api/v1/datasets/eservice-catalog/records; they start with a department: {departments}"
    )


def parse_members(dimension: str, raw: str | None) -> tuple[str, ...]:
    """The members named by ``raw`` (comma-separated), each checked against the code list;
    empty when the filter is not given."""
    if raw is None:
        return ()
    named = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not named:
        raise BadParameter(
            f"{dimension}: no value given",
            hint=f"give one or more, e.g. {dimension}=" + valid_members(dimension)[0],
        )
    if len(named) > MAX_MEMBERS:
        raise BadParameter(f"{dimension}: {len(named)} values", hint=f"give at most {MAX_MEMBERS}")
    valid = frozenset(valid_members(dimension))
    for member in named:
        if member not in valid:
            raise BadParameter(
                f"{dimension}: {member!r} is not a {dimension}", hint=_hint(dimension, member)
            )
    return named


def parse_years(raw: str | None) -> tuple[int, ...]:
    """Whole years, comma-separated (``year=2013`` or ``year=2012,2013``)."""
    if raw is None:
        return ()
    years = []
    for part in raw.split(","):
        text = part.strip()
        if not (len(text) == 4 and text.isascii() and text.isdigit()):
            raise BadParameter(f"year: {text!r} is not a year", hint="give years such as 2013")
        years.append(int(text))
    return tuple(dict.fromkeys(years))


def check_parameters(items: Sequence[tuple[str, str]], allowed: Iterable[str]) -> None:
    """Refuse a parameter the path does not take, or one given twice: FastAPI would
    silently ignore the first, and an ignored filter answers a different question."""
    known = sorted(allowed)
    seen: set[str] = set()
    for name, _ in items:
        if name in seen:
            raise BadParameter(
                f"{name} is given more than once",
                hint=f"give it once, with several members comma-separated: {name}=A,B",
            )
        seen.add(name)
        if name in known:
            continue
        column, _, operator = name.partition("__")
        if operator:
            raise BadParameter(
                f"{name}: the analytics filter on whole members only",
                hint=f"write {column}=A or {column}=A,B; there is no {operator!r} (no "
                "exclusions, ranges or patterns). The parameters here are: " + ", ".join(known),
            )
        raise BadParameter(
            f"unknown parameter {name!r}", hint=f"the parameters here are: {', '.join(known)}"
        )
