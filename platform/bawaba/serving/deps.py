"""What a route asks FastAPI for: the app's services, and the dataset a path names.

Every router (the API's, the portal's, the ecosystem formats') declares these in its
signature instead of reaching into the request by hand, so a route reads like a sentence:
``dataset: ReadableDataset`` is a dataset this caller may read. FastAPI solves a route's
dependencies before it validates the route's own parameters, so a caller who may not read
the dataset is refused (401/403) before anything else it sent is looked at, and learns
nothing from which of its parameters would have been wrong. The data paths are the
exception: they call ``dataset_to_read`` first and read their parameters themselves
(``bawaba.serving.parameters`` says why).

The dependencies are coroutines although nothing in them waits: FastAPI runs a plain
function dependency in a worker thread, and the hop there and back costs more CPU than the
lookups themselves, on every request (bench/api.py, a cached answer).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from starlette.requests import Request

from bawaba.catalog.model import Dataset
from bawaba.serving.access import require_read
from bawaba.serving.state import Services, services


async def app_services(request: Request) -> Services:
    """The app's services (``state.services``, which other callers use directly)."""
    return services(request)


AppServices = Annotated[Services, Depends(app_services)]
"""The services of the app answering the request (built at startup)."""

DatasetId = Annotated[
    str,
    Path(description="The dataset's id, as listed by /api/v1/datasets.", examples=["epay-annual"]),
]


async def known_dataset(dataset_id: DatasetId, state: AppServices) -> Dataset:
    """The catalog's dataset for the path's id, or a 404 that lists the ids."""
    return state.library.dataset(dataset_id)


KnownDataset = Annotated[Dataset, Depends(known_dataset)]
"""A dataset of the catalog, open or premium: for its public metadata."""


def dataset_to_read(request: Request, state: Services, dataset_id: str) -> Dataset:
    """The catalog's dataset for ``dataset_id`` (else a 404), if this caller may read its
    data (``access.require_read``). ``ReadableDataset`` is this as a dependency; the data
    paths, which read their own parameters (``bawaba.serving.parameters`` says why), call
    it first."""
    dataset = state.library.dataset(dataset_id)
    require_read(request, dataset)
    return dataset


async def readable_dataset(request: Request, dataset_id: DatasetId, state: AppServices) -> Dataset:
    return dataset_to_read(request, state, dataset_id)


ReadableDataset = Annotated[Dataset, Depends(readable_dataset)]
"""A dataset whose data this caller may read: open, or premium with a key whose plan
covers it."""


def base_url(request: Request) -> str:
    """Where this server is reached, as the caller reached it: the root of every link."""
    return str(request.base_url).rstrip("/")
