"""The named parameters of a data path, declared once as a model: read and documented from it.

The data paths (records, aggregates, downloads) are what clients call in loops, and on a
cached answer FastAPI resolving a route's dependencies and query parameters cost more than
the answer itself (bench/api.py, 2026-12-07). So those routes take the request and read
their parameters here instead: the same pydantic validation FastAPI would run, one model at
a time, and the same OpenAPI parameters FastAPI would write from a signature, generated
from the model's fields (``openapi_parameters``). Names the model does not declare are the
path's filters (``query.parse_filters``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from bawaba.serving.problems import invalid_parameters


class QueryParameters(BaseModel):
    """A path's named query parameters; subclasses declare them as optional fields."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def read(cls, items: Iterable[tuple[str, str]]) -> Self:
        """The declared parameters among ``items`` (the last value of a repeated one, as
        FastAPI takes it), or a BadParameter naming what is wrong."""
        given = {name: value for name, value in items if name in cls.model_fields}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise invalid_parameters(error.errors()) from None

    @classmethod
    def openapi_parameters(cls) -> list[dict[str, Any]]:
        """The fields as OpenAPI query parameters, as FastAPI documents a signature's."""
        properties: dict[str, dict[str, Any]] = cls.model_json_schema()["properties"]
        parameters = []
        for name, schema in properties.items():
            schema.pop("default", None)
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
            }
            if "description" in schema:
                parameter["description"] = schema["description"]
            parameters.append(parameter)
        return parameters
