"""The catalog: ``catalog.yaml``, the one place where a dataset is defined."""

from bawaba.catalog.load import CatalogProblem, load_catalog, validate_catalog
from bawaba.catalog.model import Catalog, Dataset, Field, Text

__all__ = [
    "Catalog",
    "CatalogProblem",
    "Dataset",
    "Field",
    "Text",
    "load_catalog",
    "validate_catalog",
]
