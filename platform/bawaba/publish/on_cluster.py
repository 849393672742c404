"""A publish on a Dask cluster: each calendar year's build a task, the rest here.

Every cell of every dataset lies in one calendar year (``by_year``), so a year's datasets
are built and protected from that year's rows alone, with what earlier years say of each
payer's first quarter (worked out here, a cheap group-by a year, and given to the task).
A task reads its year's rows itself from the store on shared storage; it sends back the
year's tables, cells and audit, which are small beside the rows. Stacking the years, the
gate, installing the versions and the atomic switch stay with the coordinator, as in a
local publish: the release is the same, byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import polars as pl

from bawaba.catalog import Catalog
from bawaba.cluster.tasks import connect, results_in_turn, shippable
from bawaba.publish import by_year, partitions, periods, revisions
from bawaba.publish.coordinates import with_time
from bawaba.reference import load_reference
from bawaba.settings import Settings


def build_one_year(
    settings: Settings,
    catalog: Catalog,
    previous: Mapping[str, pl.DataFrame],
    folds: dict[str, str],
    published: revisions.Published | None,
    job: by_year.YearJob,
    last: int | None,
) -> by_year.YearBuilt:
    """The task: one year's datasets from the year's rows, read here from the store."""
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
                    key=f"publish-{run}-{job.year}",
                )
                for job in jobs
            ]

            def waiting(index: int, done: int, total: int) -> None:
                say(f"building on the cluster: {done}/{total} year(s) done")

            return list(results_in_turn(client, futures, waiting))

    return build
