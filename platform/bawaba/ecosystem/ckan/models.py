"""CKAN's envelope as pydantic models, one success model per action: the OpenAPI
document's schemas for the CKAN paths (``envelope.py`` writes the answers themselves)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from bawaba.serving.problems import WHY


class CkanErrorDetail(BaseModel):
    """A Validation Error has no ``message``: it names each field with its messages."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        alias="__type",
        description="CKAN's error type: `Bad Request`, `Validation Error`, `Not Found Error`, "
        "`Authorization Error`, `Search Query Error`, `Too Many Requests`, …",
    )
    message: str | None = None


class CkanFailure(BaseModel):
    """Every failure on the CKAN paths, as CKAN's own API answers it."""

    help: str
    success: Literal[False]
    error: CkanErrorDetail


class PackageSearchResult(BaseModel):
    count: int
    sort: str | None
    results: list[dict[str, Any]]
    facets: dict[str, dict[str, int]]
    search_facets: dict[str, Any]


RESULTS: dict[str, Any] = {
    "package_list": list[str],
    "package_show": dict[str, Any],
    "package_search": PackageSearchResult,
    "organization_list": list[str] | list[dict[str, Any]],
    "organization_show": dict[str, Any],
    "datastore_search": dict[str, Any],
    "status_show": dict[str, Any],
    "help_show": str,
}
"""Each action's ``result``."""


def answer_model(action: str) -> type[BaseModel]:
    """The success envelope of ``action``."""
    name = "".join(part.title() for part in action.split("_"))
    return create_model(
        f"Ckan{name}Answer",
        help=(str, ...),
        success=(Literal[True], ...),
        result=(RESULTS[action], ...),
    )


CKAN_WHY = {
    400: "A body that is not a JSON object, an unknown action, or a search query that "
    "cannot be parsed (`Bad Request`, `Search Query Error`).",
    403: "Premium data without a key whose plan reads it, or a key that is not valid "
    "(`Authorization Error`: CKAN has no 401).",
    404: "No such package, organization, resource or action (`Not Found Error`).",
    405: "The path does not answer this method.",
    409: "A parameter of the wrong type or value (`Validation Error`, naming each field).",
    429: WHY[429],
    500: WHY[500],
}


def ckan_problems() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the failures of any CKAN action."""
    return {status: {"model": CkanFailure, "description": why} for status, why in CKAN_WHY.items()}
