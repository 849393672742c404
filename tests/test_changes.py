"""What changed, for users (issue 13): ``/changes?since=`` and ``/releases`` over HTTP.

Three releases: v1 of every dataset; v2 of every dataset, where the open dataset's v2 is its
v1 with some cells revised, a month added and some cells removed; v3 of the open dataset
only, with a few more cells revised. The expected rows (each with its ``change``: added,
revised or removed) are worked out from the Parquet files in Python, without DuckDB, and
also from how the versions were made.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.core import versions
from bawaba.serving.query import row_key
from conftest import Served, api_settings, serve_release
from htmltext import table
from releases import table_for, write_release

API = "/api/v1/datasets"
OPEN = "epay-monthly"
PREMIUM = "payer-mix"
KEY = ("month", "department", "channel")
ATOM = "{http://www.w3.org/2005/Atom}"

Key = tuple[object, ...]


def _with(table: pa.Table, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=table.schema)


def _unsuppressed(rows: list[dict[str, Any]]) -> list[int]:
    return [i for i, r in enumerate(rows) if not r["suppressed"]]


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, Any]]]:
    settings = api_settings(tmp_path_factory.mktemp("changes"))
    catalog = load_catalog(settings.catalog_path)
    dataset = catalog.dataset(OPEN)
    v1 = table_for(dataset, 300, seed=1)
    rows = v1.to_pylist()
    live = _unsuppressed(rows)
    revised = live[:10]
    removed = live[-5:]
    v2_rows = [dict(r) for i, r in enumerate(rows) if i not in removed]
    for r in v2_rows:
        if r in [rows[i] for i in revised]:
            r["transactions"] += 1
    departments = sorted({r["department"] for r in rows})[:5]
    channels = sorted({r["channel"] for r in rows})[:3]
    added = [
        {**rows[live[0]], "month": "2014-01", "department": d, "channel": c}
        for d in departments
        for c in channels
    ]
    v2_rows += added
    v3_rows = [dict(r) for r in v2_rows]
    later = [i for i, r in enumerate(v3_rows) if not r["suppressed"]][20:25]
    for i in later:
        v3_rows[i]["payers"] += 1
    write_release(settings.datasets_dir, catalog, seed=1, tables={OPEN: v1})
    write_release(settings.datasets_dir, catalog, seed=2, tables={OPEN: _with(v1, v2_rows)})
    write_release(
        settings.datasets_dir, catalog, seed=3, only=[OPEN], tables={OPEN: _with(v1, v3_rows)}
    )
    made = {
        "revised_v2": {tuple(rows[i][k] for k in KEY) for i in revised},
        "added_v2": {tuple(r[k] for k in KEY) for r in added},
        "revised_v3": {tuple(v3_rows[i][k] for k in KEY) for i in later},
        "removed_v2": {tuple(rows[i][k] for k in KEY) for i in removed},
    }
    with serve_release(settings) as server:
        yield server, made


@pytest.fixture
def served(changed: tuple[Served, dict[str, Any]]) -> Served:
    return changed[0]


def parquet_rows(served: Served, dataset: str, version: str) -> list[dict[str, Any]]:
    path = served.settings.datasets_dir / dataset / version / versions.DATA
    found: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return found


def expected_changes(
    served: Served, since: str, current: str = "v3", dataset: str = OPEN, key: Key = KEY
) -> dict[Key, str]:
    """Each cell that differs between ``since`` and ``current``, by key, with its change,
    by Python dicts."""
    before = {tuple(r[k] for k in key): r for r in parquet_rows(served, dataset, since)}
    now = {tuple(r[k] for k in key): r for r in parquet_rows(served, dataset, current)}
    found = dict.fromkeys(now.keys() - before.keys(), "added")
    found |= {k: "revised" for k in now.keys() & before.keys() if now[k] != before[k]}
    return found | dict.fromkeys(before.keys() - now.keys(), "removed")


def expected_keys(served: Served, since: str, current: str = "v3") -> set[Key]:
    return set(expected_changes(served, since, current))


def changes_of(rows: list[dict[str, Any]]) -> dict[Key, str]:
    return {tuple(r[k] for k in KEY): r["change"] for r in rows}


def all_pages(client: Any, url: str, **params: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = client.get(url, params={**params, "limit": 7}).json()
    found += page["rows"]
    while page["next"]:
        page = client.get(page["next"]).json()
        found += page["rows"]
    return found


def keys_of(rows: list[dict[str, Any]]) -> list[Key]:
    return [tuple(r[k] for k in KEY) for r in rows]


def test_changes_since_a_version_are_exactly_the_rows_that_differ(
    changed: tuple[Served, dict[str, Any]],
) -> None:
    served, made = changed
    with served.client() as client:
        page = client.get(f"{API}/{OPEN}/changes", params={"since": "v1"}).json()
        since_v2 = client.get(f"{API}/{OPEN}/changes", params={"since": "v2"}).json()
        since_v3 = client.get(f"{API}/{OPEN}/changes", params={"since": "v3"}).json()
    assert (page["dataset"], page["since"], page["version"]) == (OPEN, "v1", "v3")
    got = keys_of(page["rows"])
    assert len(got) == len(set(got)) == page["total"]
    assert changes_of(page["rows"]) == expected_changes(served, "v1")
    # What the versions were made of: revisions in v2 and v3, the month v2 added and the
    # cells it removed.
    assert changes_of(page["rows"]) == (
        dict.fromkeys(made["revised_v2"] | made["revised_v3"], "revised")
        | dict.fromkeys(made["added_v2"], "added")
        | dict.fromkeys(made["removed_v2"], "removed")
    )
    assert page["total"] == 10 + 15 + 5 + 5
    assert page["columns"][0] == "change"
    assert set(keys_of(since_v2["rows"])) == expected_keys(served, "v2") == made["revised_v3"]
    assert since_v3["rows"] == []
    assert since_v3["total"] == 0
    # A changed row holds the current version's values; a removed one only its key.
    current = {tuple(r[k] for k in KEY): r for r in parquet_rows(served, OPEN, "v3")}
    for row in page["rows"]:
        if row["change"] == "removed":
            assert all(v is None for c, v in row.items() if c not in (*KEY, "change")), row
            continue
        truth = current[tuple(row[k] for k in KEY)]
        assert (row["transactions"], row["payers"]) == (truth["transactions"], truth["payers"])


def test_changes_page_and_filter_like_records(changed: tuple[Served, dict[str, Any]]) -> None:
    served, made = changed
    url = f"{API}/{OPEN}/changes"
    with served.client() as client:
        paged = all_pages(client, url, since="v1")
        new_month = client.get(url, params={"since": "v1", "month": "2014-01"}).json()
        department = sorted(made["added_v2"])[0][1]
        one = client.get(
            url, params={"since": "v1", "department": department, "order": "-month"}
        ).json()
        narrow = client.get(url, params={"since": "v1", "select": "month,payers"}).json()
    assert len(paged) == 35
    assert set(keys_of(paged)) == expected_keys(served, "v1")
    assert set(keys_of(new_month["rows"])) == made["added_v2"]
    wanted = {k for k in expected_keys(served, "v1") if k[1] == department}
    assert wanted
    assert set(keys_of(one["rows"])) == wanted
    months = [r["month"] for r in one["rows"]]
    assert months == sorted(months, reverse=True)
    assert narrow["columns"] == ["change", "month", "payers"]
    assert all(set(r) == {"change", "month", "payers"} for r in narrow["rows"])


def test_changes_files_in_every_format_hold_the_same_rows(served: Served) -> None:
    expected = expected_changes(served, "v1")
    url = f"{API}/{OPEN}/changes"
    with served.client() as client:
        as_json = client.get(f"{url}.json", params={"since": "v1"})
        as_csv = client.get(f"{url}.csv", params={"since": "v1"})
        as_parquet = client.get(f"{url}.parquet", params={"since": "v1"})
        filtered = client.get(f"{url}.csv", params={"since": "v1", "month": "2014-01"})
        bad = client.get(f"{url}.xlsx", params={"since": "v1"})
    for answer in (as_json, as_csv, as_parquet):
        assert answer.status_code == 200, answer.text
        assert "since-v1" in answer.headers["content-disposition"]
    assert changes_of(json.loads(as_json.content)) == expected
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert changes_of(csv_rows) == expected
    assert changes_of(pq.read_table(io.BytesIO(as_parquet.content)).to_pylist()) == expected
    assert {r["month"] for r in csv.DictReader(io.StringIO(filtered.text))} == {"2014-01"}
    assert bad.status_code == 400
    assert "changes.csv" in bad.json()["error"]["hint"]


def _synced(rows: list[dict[str, Any]], changed: list[dict[str, Any]]) -> dict[Key, Any]:
    """``rows`` with ``changed`` applied by key, as a client syncing would."""
    copy = {tuple(r[k] for k in KEY): r for r in rows}
    for row in changed:
        key = tuple(row[k] for k in KEY)
        if row.pop("change") == "removed":
            del copy[key]
        else:
            copy[key] = row
    return copy


@pytest.mark.parametrize("since", ["v1", "v2"])
def test_applying_the_changes_to_a_version_gives_the_current_one(
    served: Served, since: str
) -> None:
    url = f"{API}/{OPEN}/changes"
    with served.client() as client:
        as_file = client.get(f"{url}.parquet", params={"since": since})
        paged = all_pages(client, url, since=since)
        measured = client.get(url, params={"since": since, "payers__gte": 0}).json()
        metadata = client.get(f"{API}/{OPEN}").json()
    # The key a client matches rows on is in the dataset's metadata.
    assert tuple(metadata["key"]) == KEY
    changed = pq.read_table(io.BytesIO(as_file.content)).to_pylist()
    current = {tuple(r[k] for k in KEY): r for r in parquet_rows(served, OPEN, "v3")}
    assert _synced(parquet_rows(served, OPEN, since), changed) == current
    # JSON numbers are plain: the same keys, and the same counts.
    json_copy = _synced(parquet_rows(served, OPEN, since), paged)
    assert json_copy.keys() == current.keys()
    assert all(json_copy[k]["payers"] == current[k]["payers"] for k in current)
    # A removed cell's measures are empty, so a filter on a measure leaves it out.
    assert "removed" not in {r["change"] for r in measured["rows"]}


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "hint"),
    [
        ("changes", {"since": "v9"}, 404, "no-such-version", "v3, v2, v1"),
        ("changes.csv", {"since": "v9"}, 404, "no-such-version", "v3, v2, v1"),
        ("changes", {"since": "latest"}, 404, "no-such-version", "current: v3"),
        ("changes", {}, 400, "bad-parameter", "v3, v2, v1"),
        ("changes", {"since": "v1", "colour": "red"}, 400, "bad-parameter", "month"),
        ("changes", {"since": "v1", "limit": "0"}, 400, "bad-parameter", "give 1 to"),
    ],
)
def test_a_bad_since_or_filter_says_what_is_valid(
    served: Served, path: str, params: dict[str, str], status: int, code: str, hint: str
) -> None:
    with served.client() as client:
        answer = client.get(f"{API}/{OPEN}/{path}", params=params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint"}
    assert body["error"]["code"] == code
    assert hint in body["error"]["hint"]


def test_premium_changes_need_a_key_like_their_records(served: Served) -> None:
    url = f"{API}/{PREMIUM}/changes"
    with served.client() as client:
        anonymous = client.get(url, params={"since": "v1"})
        anonymous_file = client.get(f"{url}.csv", params={"since": "v1"})
        free = client.get(
            url, params={"since": "v1"}, headers={"X-API-Key": served.new_key("developer")}
        )
        keyed = client.get(
            url, params={"since": "v1"}, headers={"X-API-Key": served.new_key("business")}
        )
    assert anonymous.status_code == anonymous_file.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert free.status_code == 403
    assert keyed.status_code == 200, keyed.text
    catalog = load_catalog(served.settings.catalog_path)
    key = tuple(row_key(catalog.dataset(PREMIUM)))
    differ = expected_changes(served, "v1", "v2", PREMIUM, key)
    assert keyed.json()["total"] == len(differ) > 0


def test_releases_are_listed_newest_first_with_what_each_made(served: Served) -> None:
    catalog = load_catalog(served.settings.catalog_path)
    with served.client() as client:
        listing = client.get("/api/v1/releases").json()
    releases = listing["releases"]
    assert listing["count"] == len(releases) == 3
    dates = [r["created_at"] for r in releases]
    assert dates == sorted(dates, reverse=True)
    newest, middle, oldest = releases
    assert [r["current"] for r in releases] == [True, False, False]
    current = versions.read_release(served.settings.datasets_dir)
    assert current is not None
    assert newest["release"] == current.release
    assert newest["datasets"][OPEN] == {"version": "v3", "status": "new"}
    assert newest["datasets"][PREMIUM] == {"version": "v2", "status": "unchanged"}
    assert all(d == {"version": "v2", "status": "new"} for d in middle["datasets"].values())
    assert all(d == {"version": "v1", "status": "new"} for d in oldest["datasets"].values())
    assert set(oldest["datasets"]) == {d.id for d in catalog.datasets}


def test_releases_as_an_atom_feed(served: Served) -> None:
    with served.client() as client:
        listing = client.get("/api/v1/releases").json()
        feed = client.get("/api/v1/releases.atom")
        negotiated = client.get("/api/v1/releases", headers={"Accept": "application/atom+xml"})
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert negotiated.content == feed.content
    root = ET.fromstring(feed.content)  # noqa: S314 - our own server's answer
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") or "" for e in entries]
    assert [i.rsplit("#", 1)[1] for i in ids] == [r["release"] for r in listing["releases"]]
    assert root.findtext(f"{ATOM}updated") == listing["releases"][0]["created_at"]
    newest = entries[0].findtext(f"{ATOM}content") or ""
    assert f"{OPEN} v3" in newest
    assert f"/datasets/{OPEN}/changes?since=v2" in newest
    assert "1 new version" in (entries[0].findtext(f"{ATOM}title") or "")


def test_the_new_paths_are_documented(served: Served) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/datasets/{dataset_id}/changes",
        "/api/v1/datasets/{dataset_id}/changes.{fmt}",
        "/api/v1/releases",
        "/api/v1/releases.atom",
    ):
        operation = spec["paths"][path]["get"]
        assert operation["description"]
        assert all(p.get("description") for p in operation.get("parameters", []))
    page = spec["paths"]["/api/v1/datasets/{dataset_id}/changes"]["get"]
    schema = page["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ChangesPage")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for documented in ("/changes?since=", "changes.{csv,json,parquet}", "/api/v1/releases"):
        assert documented in readme


def test_each_version_says_what_it_changed(changed: tuple[Served, dict[str, Any]]) -> None:
    served, made = changed
    with served.client() as client:
        listed = client.get(f"{API}/{OPEN}/versions").json()["versions"]
    summaries = {v["version"]: v["changes"] for v in listed}
    assert summaries["v1"]["previous"] is None
    assert summaries["v1"]["added_cells"] == 300
    assert summaries["v2"] == {
        "dataset": OPEN,
        "version": "v2",
        "previous": "v1",
        "added_periods": ["2014-01"],
        "added_cells": 15,
        "revised_cells": 10,
        "removed_cells": 5,
        # Months published in v1 whose cells v2 revised or removed, by how v2 was made.
        "revised_periods": dict(Counter(k[0] for k in made["revised_v2"] | made["removed_v2"])),
    }
    assert summaries["v3"]["added_periods"] == []
    assert (summaries["v3"]["added_cells"], summaries["v3"]["revised_cells"]) == (0, 5)


@pytest.mark.parametrize(
    ("lang", "first", "second", "third", "periods"),
    [
        (
            "en",
            "First version: 300 cells",
            "Since v1: 15 cells added, 10 revised, 5 removed",
            "Since v2: 0 cells added, 5 revised, 0 removed",
            "New periods: 2014-01",
        ),
        (
            "ar",
            "الإصدار الأول: 300 خلية",
            "منذ v1: أضيفت 15 خلية، وعُدّلت 10، وحُذفت 5",
            "منذ v2: أضيفت 0 خلية، وعُدّلت 5، وحُذفت 0",
            "فترات جديدة: 2014-01",
        ),
    ],
)
def test_the_dataset_page_shows_what_each_version_changed(
    served: Served, lang: str, first: str, second: str, third: str, periods: str
) -> None:
    with served.client() as client:
        page = client.get(f"/datasets/{OPEN}", params={"lang": lang})
    assert page.status_code == 200
    _, rows = table(page.text, "versions")
    cells = {row[0].split()[0]: " ".join(" ".join(row).split()) for row in rows}
    assert first in cells["v1"]
    assert second in cells["v2"]
    assert periods in cells["v2"]
    assert third in cells["v3"]
    assert periods not in cells["v3"]
    assert f'/api/v1/datasets/{OPEN}/changes.csv?since=v2"' in page.text


def test_a_version_without_todays_columns_cannot_be_compared(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    catalog = load_catalog(settings.catalog_path)
    write_release(settings.datasets_dir, catalog, seed=1, only=[OPEN])
    write_release(settings.datasets_dir, catalog, seed=2, only=[OPEN])
    # v1 as a version published before a column was added to the catalog.
    manifest_path = settings.datasets_dir / OPEN / "v1" / versions.MANIFEST
    manifest = versions.VersionManifest.model_validate_json(manifest_path.read_bytes())
    manifest.schema_ = [c for c in manifest.schema_ if c["name"] != "payers"]
    manifest_path.write_bytes(manifest.model_dump_json().encode())
    with serve_release(settings) as server, server.client() as client:
        refused = client.get(f"{API}/{OPEN}/changes", params={"since": "v1"})
        fine = client.get(f"{API}/{OPEN}/changes", params={"since": "v2"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "not-comparable"
    assert refused.json()["error"]["hint"] == "compare with one of: v2"
    assert fine.status_code == 200


def test_a_changes_answer_is_cached_by_its_etag(served: Served) -> None:
    url = f"{API}/{OPEN}/changes"
    with served.client() as client:
        first = client.get(url, params={"since": "v1"})
        again = client.get(
            url, params={"since": "v1"}, headers={"If-None-Match": first.headers["etag"]}
        )
        other = client.get(url, params={"since": "v2"})
    assert first.headers["etag"].startswith('"v3-')
    assert again.status_code == 304
    assert other.headers["etag"] != first.headers["etag"]
