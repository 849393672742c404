"""The entry point: simulate the departments' systems and write their exports.

One department-year at a time: plan -> numeric rows -> dirty rows -> numbering -> one month
at a time rendered, formatted in the department's dialect and written atomically. Random
streams are independent per (seed, department, year[, month]), so a subset of departments
gives the same files for those departments; the payer population depends on the seed only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from bawaba.errors import ConfigError
from bawaba.reference import load_reference
from bawaba.settings import Settings
from bawaba.simulator.calendar import year_calendar
from bawaba.simulator.corrections import corrected, correction_month
from bawaba.simulator.dialects import DIALECTS, Dialect
from bawaba.simulator.dirt import add_dirt, clean_stats, dirty_counts, number, unknown_codes
from bawaba.simulator.export import (
    HTTP_RECORDS,
    month_file,
    replacing,
    to_dialect,
    write,
    write_if_changed,
)
from bawaba.simulator.plan import build_plan
from bawaba.simulator.population import build_population
from bawaba.simulator.profiles import DIRTY_KINDS, Profile, profile
from bawaba.simulator.records import generate
from bawaba.simulator.render import PLATE_CATEGORIES, Areas, Context, render
from bawaba.simulator.truth import DepartmentTruth, Truth, YearTruth

TRUTH_FILE = "truth.json"
Progress = Callable[[str, int, int], None]
Month = tuple[int, int]
"""(year, month)."""


def simulate(
    settings: Settings,
    *,
    years: Sequence[int] = (2012, 2013),
    departments: Sequence[str] | None = None,
    progress: Progress | None = None,
    through: Month | None = None,
) -> Truth:
    """Write every selected department's records for ``years``; return what was written.

    With ``through`` (year, month), time has passed up to the end of that month only: the
    deliveries of every month up to it are written (a month already delivered is left as it
    is), a share of each month's records arrives late, in a file of its own delivered with
    the next month (:func:`late_share`), now and then a month file is delivered again
    corrected (``corrections``), and an HTTP department's system holds the records made by
    then. ``truth`` tells of the records as first made, before any correction.
    ``progress(label, done, total)`` is called after each department-year.
    """
    reference = load_reference()
    known = [d.code for d in reference.departments]
    chosen = known if departments is None else list(dict.fromkeys(departments))
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown departments: {', '.join(unknown)}", hint=f"choose from {', '.join(known)}"
        )
    if not years:
        raise ConfigError("no year to simulate", hint="give 2012 and/or 2013")
    run_years = tuple(sorted(set(years)))
    for year in run_years:
        year_calendar(year)
    plan = build_plan(reference, settings.scale, run_years)
    population = build_population(reference, settings.seed, settings.scale)
    areas = Areas.of(reference)
    all_services = frozenset(s.code for s in reference.services)
    banks = tuple(b.code for b in reference.banks)
    seed = settings.seed % (1 << 64)

    total = len(chosen) * len(run_years)
    done = 0
    department_truths: dict[str, DepartmentTruth] = {}
    for code in [c for c in known if c in chosen]:
        prof = profile(code)
        dialect = DIALECTS[prof.dialect]
        services = reference.department(code).services
        variable = frozenset(s.code for s in services if s.fee_aed is None)
        extra_codes = unknown_codes(code, all_services)
        http_frames: list[pl.DataFrame] = []
        rows_written = 0
        dirty = dict.fromkeys(DIRTY_KINDS, 0)
        per_year: dict[str, YearTruth] = {}
        for year in run_years:
            if through is not None and year > through[0]:
                continue
            cell = plan.get(code, year)
            cal = year_calendar(year)
            rng = np.random.default_rng([seed, cell.index, year])
            rows = generate(cell, services, prof, population, rng)
            rows = add_dirt(rows, cell.dirty, len(extra_codes), cal, rng)
            rows = number(rows, cell.record_id_start, rng)
            stats = clean_stats(rows)
            per_year[str(year)] = YearTruth(
                e_success=stats["e_success"],
                e_success_value_aed=stats["e_success_value_fils"] / 100,
                e_success_value_fils=stats["e_success_value_fils"],
                counter_success=stats["counter_success"],
                failed=stats["failed"],
                refunds=stats["refunds"],
            )
            for kind, count in dirty_counts(rows).items():
                dirty[kind] += count
            ctx = Context(
                code=code,
                year=year,
                profile=prof,
                service_codes=(*(s.code for s in services), *extra_codes),
                plate_services=np.array(
                    [
                        "plate_number" in prof.optional and s.category in PLATE_CATEGORIES
                        for s in services
                    ]
                ),
                banks=banks,
                timestamp=dialect.timestamp,
                areas=areas,
            )
            bounds = np.searchsorted(
                rows.sort_t,
                np.append(cal.midnight[cal.month_start[:12]], cal.midnight[-1] + 86_400),
            )
            for months in _batches(bounds):
                first, last = months[0], months[-1]
                start = int(bounds[first - 1])
                part = rows.take(slice(start, int(bounds[last])))
                batch_rng = np.random.default_rng([seed, cell.index, year, first])
                rendered = render(part, ctx, population, batch_rng, start)
                frame = to_dialect(rendered, dialect, prof)
                rows_written += frame.height
                if dialect.format == "http":
                    http_frames.append(frame)
                    continue
                for month in months:
                    offset = int(bounds[month - 1]) - start
                    length = int(bounds[month] - bounds[month - 1])
                    month_frame = frame.slice(offset, length)
                    if through is None:
                        write(
                            month_frame,
                            month_file(settings.landing_dir, code, year, month, dialect),
                            dialect.format,
                        )
                        continue
                    correct = partial(
                        _corrected,
                        rendered.slice(offset, length),
                        seed,
                        code,
                        (year, month),
                        variable,
                        dialect,
                        prof,
                    )
                    _deliver(settings, code, (year, month), month_frame, dialect, through, correct)
            done += 1
            if progress is not None:
                progress(f"{code} {year}", done, total)
        if dialect.format == "http" and http_frames:
            store = pl.concat(http_frames).sort(dialect.columns["record_id"])
            if through is not None:
                store = store.filter(_made_by(through, dialect.columns["occurred_at"]))
            write(store, settings.systems_dir / code / HTTP_RECORDS, "parquet")
        department_truths[code] = DepartmentTruth(
            dialect=dialect.name, rows=rows_written, dirty=dirty, years=per_year
        )

    truth = Truth(
        seed=settings.seed,
        scale=settings.scale,
        years=run_years,
        departments=department_truths,
        totals={
            str(year): YearTruth.total([d.years[str(year)] for d in department_truths.values()])
            for year in run_years
        },
    )
    with replacing(settings.systems_dir / TRUTH_FILE) as temporary:
        temporary.write_text(truth.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return truth


LATE_SHARE = 0.01
"""Of each month's records, the share a department delivers a month late (``--through``)."""


def late_share(frame: pl.DataFrame) -> pl.Series:
    """Which of a month's records arrive late: one in every ``1 / LATE_SHARE`` by position
    (rows are in time order), so every run picks the same ones."""
    every = round(1 / LATE_SHARE)
    return pl.int_range(frame.height, eager=True) % every == every // 2


def late_file(path: Path) -> Path:
    """The file of a month's late records, beside its month file."""
    return path.with_name(f"{path.stem}-late{path.suffix}")


Correct = Callable[[pl.Series], pl.DataFrame]
"""The month file's records kept by a mask, as the department's corrected export has them."""


def _corrected(
    rows: pl.DataFrame,
    seed: int,
    code: str,
    month: Month,
    variable: frozenset[str],
    dialect: Dialect,
    prof: Profile,
    kept: pl.Series,
) -> pl.DataFrame:
    return to_dialect(corrected(rows.filter(kept), seed, code, month, variable), dialect, prof)


def _deliver(
    settings: Settings,
    code: str,
    month: Month,
    frame: pl.DataFrame,
    dialect: Dialect,
    through: Month,
    correct: Correct,
) -> None:
    """Write the deliveries of ``month`` made by the end of ``through``: the month's file
    (less its late records) once the month has ended, its late records a month later, and,
    for the few months the department corrects (``corrections``), the corrected file under
    the same name when it sends it. A file is otherwise never rewritten."""
    if month > through:
        return
    target = month_file(settings.landing_dir, code, month[0], month[1], dialect)
    late = late_share(frame)
    if not target.exists():
        write(frame.filter(~late), target, dialect.format)
    if _next(month) <= through and not late_file(target).exists():
        write(frame.filter(late), late_file(target), dialect.format)
    seed = settings.seed % (1 << 64)
    sent = correction_month(seed, code, month)
    if sent is not None and sent <= through:
        write_if_changed(correct(~late), target, dialect.format)


def _made_by(through: Month, timestamp: str) -> pl.Expr:
    """Records timestamped before the month after ``through`` (timestamps are ISO text)."""
    year, month = _next(through)
    return pl.col(timestamp).cast(pl.String) < f"{year:04d}-{month:02d}-01"


def _next(month: Month) -> Month:
    return (month[0] + month[1] // 12, month[1] % 12 + 1)


BATCH_ROWS = 200_000
"""Months are rendered together up to this many rows (fewer, larger polars operations)."""


def _batches(bounds: npt.NDArray[np.int64]) -> list[list[int]]:
    """Consecutive months (1..12) grouped so that each group stays under BATCH_ROWS rows."""
    batches: list[list[int]] = []
    size = 0
    for month in range(1, 13):
        rows = int(bounds[month] - bounds[month - 1])
        if batches and size + rows <= BATCH_ROWS:
            batches[-1].append(month)
            size += rows
        else:
            batches.append([month])
            size = rows
    return batches
