"""Small generated releases for the API tests: every catalog dataset, open and premium.

The API serves whatever the publisher installed; its tests need published versions of every
dataset (premium ones too, which a tiny simulation withholds), several versions to page and
pin across, and rows they can predict. ``write_release`` installs such a release through the
publisher's own version functions, in well under a second. The end-to-end path from the
simulator to a served file is tested separately, over a real pipeline run.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from bawaba.catalog.model import Catalog, Dataset, Field
from bawaba.core import versions
from bawaba.fsutil import sha256_file
from bawaba.publish import changes
from bawaba.publish.codelists import code_set
from bawaba.reference import load_reference

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.decimal128(18, 2),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


def _time_value(field: Field, rng: random.Random) -> object:
    year = rng.choice([2012, 2013])
    match field.name:
        case "year":
            return year
        case "month":
            return f"{year}-{rng.randint(1, 12):02d}"
        case "quarter":
            return f"{year}-Q{rng.randint(1, 4)}"
        case "hour_of_week":
            return rng.randint(0, 167)
        case "date":
            return date(year, 1, 1) + timedelta(days=rng.randint(0, 364))
    raise AssertionError(f"no generator for time field {field.name}")


def _value(field: Field, rng: random.Random, codes: dict[str, list[str]]) -> object:
    if field.role == "time":
        return _time_value(field, rng)
    if field.code_list is not None:
        return rng.choice(codes[field.code_list])
    match field.type:
        case "integer":
            return rng.randint(0, 50_000)
        case "decimal":
            return Decimal(rng.randint(0, 10**9)) / 100
        case "boolean":
            return rng.random() < 0.2
        case "date":
            return date(2013, 1, 1) + timedelta(days=rng.randint(0, 364))
        case _:
            return rng.choice(["alpha", "Beta", "gamma delta", "دبي", "O'Brien; --"])


def table_for(dataset: Dataset, rows: int, seed: int) -> pa.Table:
    """``rows`` distinct rows of ``dataset``, sorted by its sort key, suppressed cells empty."""
    rng = random.Random(f"{dataset.id}:{seed}")
    reference = load_reference()
    codes = {
        f.code_list: sorted(code_set(reference, f.code_list))[:12]
        for f in dataset.fields
        if f.code_list is not None
    }
    keys = dataset.sort_by  # the dataset's key: one row per value
    seen: set[tuple[object, ...]] = set()
    records: list[dict[str, object]] = []
    for _ in range(rows * 20):
        if len(records) == rows:
            break
        record = {f.name: _value(f, rng, codes) for f in dataset.fields}
        key = tuple(record[k] for k in keys)
        if key in seen:
            continue
        seen.add(key)
        if record.get("suppressed"):
            for f in dataset.by_role("measure"):
                record[f.name] = None
        records.append(record)
    records.sort(key=lambda r: tuple(str(r[k]) for k in dataset.sort_by))
    schema = pa.schema([(f.name, ARROW_TYPES[f.type]) for f in dataset.fields])
    return pa.Table.from_pylist(records, schema=schema)


def write_release(
    root: Path,
    catalog: Catalog,
    *,
    seed: int = 1,
    rows: int = 300,
    only: list[str] | None = None,
    tables: dict[str, pa.Table] | None = None,
) -> versions.Release:
    """Install a new version of every dataset (or of ``only``) and switch to it; a dataset
    named in ``tables`` gets that table instead of generated rows."""
    previous = versions.read_release(root)
    current = dict(previous.datasets) if previous else {}
    now = datetime.now(UTC).isoformat()
    name = f"test-{seed}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    for dataset in catalog.datasets:
        if only is not None and dataset.id not in only:
            continue
        version = versions.next_version(root, dataset.id)
        staged = root / ".staging" / dataset.id
        staged.mkdir(parents=True)
        given = (tables or {}).get(dataset.id)
        table = given if given is not None else table_for(dataset, rows, seed)
        pq.write_table(table, staged / versions.DATA, compression="zstd")
        manifest = versions.VersionManifest(
            dataset=dataset.id,
            version=version,
            created_at=now,
            rows=table.num_rows,
            files=[
                versions.FileEntry(
                    name=versions.DATA,
                    bytes=(staged / versions.DATA).stat().st_size,
                    sha256=sha256_file(staged / versions.DATA),
                )
            ],
            schema_=[{"name": f.name, "type": f.type} for f in dataset.fields],
            lineage={"release": name, "generated_by": "tests/releases.py", "seed": seed},
            gate={"passed": True},
        )
        (staged / versions.MANIFEST).write_bytes(manifest.model_dump_json().encode())
        # What the publisher records: the change against the version before (publish.changes).
        before = current.get(dataset.id)
        summary = changes.compare(
            dataset,
            version,
            pl.read_parquet(staged / versions.DATA),
            pl.read_parquet(root / dataset.id / before / versions.DATA) if before else None,
            before,
        )
        (staged / changes.CHANGES).write_bytes(changes.encode(summary))
        versions.install_version(staged, root, dataset.id, version)
        current[dataset.id] = version
    release = versions.Release(release=name, created_at=now, datasets=current)
    versions.switch_release(root, release)
    return release
