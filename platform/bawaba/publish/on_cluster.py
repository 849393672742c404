"""A publish on a Dask cluster: each calendar year's build a task, the rest here.

Every cell of every dataset lies in one calendar year (``by_year``), so a year's datasets
are built and protected from that year's rows alone, with what earlier years say of each
payer's first quarter (worked out here, a cheap group-by a year, and given to the task).
A task reads its year's rows itself from the store on shared storage; it sends back the
year's tables, cells and audit, which are small beside the rows. Within it, each round of
the disclosure audit runs its independent jobs as tasks of their own (:class:`AuditTasks`),
which only return values. Stacking the years, the gate, installing the versions and the
atomic switch stay with the coordinator, as in a local publish: the release is the same,
byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from distributed import Future
from numpy.typing import NDArray

from bawaba.catalog import Catalog
from bawaba.cluster.tasks import connect, from_task, placed, results_in_turn, shippable
from bawaba.disclosure.audit import AuditJob, JobAudit, audit_job
from bawaba.disclosure.linked import Linkage
from bawaba.publish import by_year, partitions, periods, revisions
from bawaba.publish.coordinates import with_time
from bawaba.reference import load_reference
from bawaba.settings import Settings


@dataclass
class AuditTasks:
    """Runs each round of a year's disclosure audit (``disclosure.audit.RunJobs``) as a task
    per job, submitted from the year's task.

    The linkage, the same every round, is placed on the year's worker once (``placed``);
    a round places only its flags. Keys are ``audit-<run>-<year>-<round>-<job>``:
    the year's task run again after its worker was lost audits the same rounds in the same
    order under the same keys. A job only returns values, so one run twice changes nothing."""

    prefix: str
    """``<run>-<year>``."""
    rounds: int = 0
    _linkage: tuple[Linkage, Future[Linkage]] | None = field(default=None, repr=False)

    def __call__(
        self, linkage: Linkage, flags: NDArray[np.bool_], jobs: Sequence[AuditJob]
    ) -> list[JobAudit]:
        tag = f"{self.prefix}-{self.rounds}"
        self.rounds += 1
        if self._linkage is None or self._linkage[0] is not linkage:
            self._linkage = (linkage, placed(f"linkage-{tag}", linkage))
        return from_task(
            audit_job,
            [self._linkage[1], placed(f"flags-{tag}", flags)],
            {f"audit-{tag}-{i}": job for i, job in enumerate(jobs)},
        )


def build_one_year(
    settings: Settings,
    catalog: Catalog,
    previous: Mapping[str, pl.DataFrame],
    folds: dict[str, str],
    published: revisions.Published | None,
    job: by_year.YearJob,
    last: int | None,
    run: str,
) -> by_year.YearBuilt:
    """The task: one year's datasets from the year's rows, read here from the store; the
    jobs of each round of its disclosure audit are tasks of their own (:class:`AuditTasks`)."""
    from bawaba.publish.publisher import release_rows

    split = release_rows(settings, catalog, published, keep_counts=False)
    chosen = split.kept if job.year is None else split.kept.filter(by_year.in_year(job.year))
    limits = by_year.Limits.of(settings)
    return by_year.build_year(
        chosen,
        partitions.parts(periods.of_year(split.counts, job.year), limits.part_rows),
        catalog,
        load_reference(),
        limits,
        previous,
        folds,
        published,
        last,
        job.firsts,
        with_time,
        run_jobs=AuditTasks(f"{run}-{job.year}"),
    )


def years_on_cluster(
    settings: Settings,
    catalog: Catalog,
    previous: Mapping[str, pl.DataFrame],
    folds: dict[str, str],
    published: revisions.Published | None,
    say: Callable[[str], None],
) -> by_year.BuildYears:
    """``by_year.build``'s years built on the cluster at ``settings.dask_scheduler``,
    telling ``say`` how many are done while it waits."""
    assert settings.dask_scheduler is not None
    address = settings.dask_scheduler
    shipped = shippable(settings)

    def build(jobs: list[by_year.YearJob], last: int | None) -> list[by_year.YearBuilt]:
        run = uuid.uuid4().hex
        with connect(address) as client:
            common = client.scatter([catalog, dict(previous), folds, published], broadcast=True)
            futures = [
                client.submit(
                    build_one_year,
                    shipped,
                    *common,
                    job,
                    last,
                    run,
                    key=f"publish-{run}-{job.year}",
                )
                for job in jobs
            ]

            def waiting(index: int, done: int, total: int) -> None:
                say(f"building on the cluster: {done}/{total} year(s) done")

            return list(results_in_turn(client, futures, waiting))

    return build
