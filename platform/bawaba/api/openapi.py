"""The OpenAPI document as a contract: what FastAPI generates from the routes' declarations,
made true to this app in four ways.

- FastAPI documents a 422 for every operation with parameters, but this app never answers
  422: ``problems.install_error_handlers`` turns a validation error into a 400 in the one
  error shape, and every route declares its 400. The 422s, and the validation-error
  schemas only they used, are dropped.
- A parameter a handler requires but checks itself (after access, with a hint naming the
  valid values) is optional to FastAPI; it declares ``REQUIRED`` and is required here.
- The credentials routes declare (``bawaba.api.security``) are described as its
  ``securitySchemes``.
- Some values are valid only if the catalog holds them (a dataset id, a topic, a
  department), and the catalog is known only when the app is built: those parameters get
  the catalog's values as their ``enum``, so a client (or a fuzzer) knows what is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from bawaba.api.security import SCHEMES
from bawaba.catalog.model import Catalog
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference

Document = dict[str, Any]
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
REQUIRED_MARK = "x-bawaba-required"
REQUIRED: dict[str, Any] = {REQUIRED_MARK: True}
"""``json_schema_extra`` of a parameter the handler requires itself."""


def catalog_values(catalog: Catalog) -> dict[tuple[str, str], list[str]]:
    """(path, parameter) -> its valid values; ``*`` as the path means every path."""
    topics = list(catalog.topics)
    return {
        ("*", "dataset_id"): [d.id for d in catalog.datasets],
        ("/api/v1/datasets", "topic"): topics,
        # The portal's facets: empty is the form's "any".
        ("/datasets", "topic"): ["", *topics],
        ("/datasets", "department"): ["", *sorted(code_set(load_reference(), "departments"))],
    }


def contract(document: Document, catalog: Catalog) -> Document:
    values = catalog_values(catalog)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            for parameter in operation.get("parameters", []):
                _mark_required(parameter)
                name = parameter["name"]
                enum = values.get((path, name)) or values.get(("*", name))
                if enum is not None and "schema" in parameter:
                    _set_enum(parameter["schema"], enum)
    components = document.setdefault("components", {})
    for name in VALIDATION_SCHEMAS:
        components.get("schemas", {}).pop(name, None)
    components["securitySchemes"] = SCHEMES
    return document


def _mark_required(parameter: Document) -> None:
    schema = parameter.get("schema", {})
    if schema.pop(REQUIRED_MARK, False):
        parameter["required"] = True
        # Given, it is text: null is only FastAPI's way of saying "may be left out".
        branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            schema.update(branches[0])


def _set_enum(schema: Document, enum: list[str]) -> None:
    """``enum`` on the string branch of ``schema`` (an optional one is ``anyOf`` a string
    and null)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["enum"] = enum


def install_contract(app: FastAPI, catalog: Catalog) -> None:
    """Serve ``contract`` of FastAPI's document as /openapi.json (built once, on first use)."""
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = contract(generate(), catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
