"""Work on a Dask cluster: the client, the settings a task is given, waiting with progress,
and tasks submitted from inside a task.

Only ``--cluster`` / ``BAWABA_DASK_SCHEDULER`` reach this module, so the local run never
imports Dask. A task is given the coordinator's settings without their secrets (Dask
sends task arguments over the network unencrypted unless told otherwise, and none of a
task needs one: the pseudonym key stays with the coordinator, which draws payer ids), and
reads and writes the same paths as the coordinator: the store, the landing zone and var/
must be on storage every worker sees at the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

from pydantic import SecretStr

from bawaba.errors import ConfigError

try:
    from distributed import Client, Future, get_client, worker_client
except ModuleNotFoundError as missing:  # the [cluster] extra is not installed
    raise ConfigError(
        "running on a Dask cluster needs the dask and distributed packages",
        hint="install the cluster extra: pip install 'bawaba[cluster]' (make install has it)",
    ) from missing
from bawaba.settings import Settings

T = TypeVar("T")
Waiting = Callable[[int, int, int], None]
"""Called with (the task waited for, tasks done, tasks in all) while waiting."""

CONNECT_TIMEOUT_S = 10
# How often the progress shown while waiting for a task is brought up to date.
POLL_S = 0.5
# Above a task's default of 0: a worker with a thread free runs a task submitted from a
# task before another one ready (another year's, say), so that the task waiting on it ends
# sooner and fewer tasks hold their memory at once.
FROM_TASK_PRIORITY = 1


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or a user error saying it cannot be reached."""
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"no Dask scheduler answers at {address}: {error}",
            hint="start one (`dask scheduler`) and its workers (`dask worker "
            "tcp://HOST:8786`), or leave out --cluster and BAWABA_DASK_SCHEDULER to run "
            "here",
        ) from None
    try:
        yield client
    finally:
        client.close()


def shippable(settings: Settings) -> Settings:
    """``settings`` without any secret, to give a task."""
    secrets = {
        name: None
        for name in Settings.model_fields
        if isinstance(getattr(settings, name), SecretStr)
    }
    return settings.model_copy(update=secrets)


def results_in_turn(
    client: Client, futures: Sequence[Future[T]], waiting: Waiting | None
) -> Generator[T]:
    """Each of ``futures``' results in their order, telling ``waiting`` how many are done
    while it waits for one. A result is forgotten by the cluster once taken, so that a
    worker lost afterwards does not make the cluster run its task again; whatever stops the
    caller cancels the tasks not taken yet. A task the cluster could not run (its workers
    died too often) raises here."""
    pending = list(futures)
    try:
        while pending:
            future = pending[0]
            while True:
                if waiting is not None:
                    done = len(futures) - len(pending) + sum(f.done() for f in pending)
                    waiting(len(futures) - len(pending), done, len(futures))
                try:
                    result = future.result(timeout=POLL_S)
                    break
                except TimeoutError:
                    continue
            pending.pop(0)
            future.release()
            yield result
    finally:
        if pending:
            client.cancel(pending)


def placed(key: str, value: T) -> Future[T]:
    """``value`` placed under ``key`` on the worker running this task, for the tasks it
    submits (:func:`from_task`): sent once, not through the scheduler; a task run elsewhere
    fetches it from here."""
    future: Future[T] = get_client().scatter({key: value})[key]
    return future


def from_task(
    function: Callable[..., T], shared: Sequence[object], items: Mapping[str, object]
) -> list[T]:
    """``function(*shared, item)`` for each of ``items``, each a task of its own under its
    key in ``items``, submitted from inside the task running here; the results in their
    order. A value of ``shared`` is given as it is, or as a :func:`placed` future.

    While it waits, this task's thread leaves the worker's pool (``worker_client``), so
    that the tasks it submits run even on a worker of one thread."""
    with worker_client() as client:
        futures = [
            client.submit(function, *shared, item, key=key, priority=FROM_TASK_PRIORITY)
            for key, item in items.items()
        ]
        return list(client.gather(futures))
