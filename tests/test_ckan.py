"""The CKAN Action API subset, driven by the real ``ckanapi`` client against a live server.

ckanapi POSTs JSON to ``/api/action/<name>``; the raw HTTP checks cover the ``/api/3/``
prefix, GET, and the error envelope CKAN clients dispatch on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ckanapi
import pyarrow.parquet as pq
import pytest

from bawaba.catalog.load import load_catalog
from bawaba.ecosystem.ckan.actions import ACTIONS
from conftest import SHIPPED_DATASETS, Served, api_settings, serve_release
from releases import write_release
from test_publish import current_file


@pytest.fixture(scope="module")
def ckan(served: Served) -> Iterator[ckanapi.RemoteCKAN]:
    with ckanapi.RemoteCKAN(served.url, user_agent="bawaba-tests") as remote:
        yield remote


def api_rows(served: Served, dataset: str, **params: Any) -> dict[str, Any]:
    with served.client() as client:
        answer = client.get(
            f"/api/v1/datasets/{dataset}/records", params={"limit": 10000, **params}
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_package_list_names_every_dataset(ckan: ckanapi.RemoteCKAN, served: Served) -> None:
    with served.client() as client:
        ids = {d["id"] for d in client.get("/api/v1/datasets").json()["datasets"]}
    names = ckan.action.package_list()
    assert sorted(names) == names
    assert set(names) == ids
    assert len(ids) == SHIPPED_DATASETS
    # ckanapi's own extra parameters, and anything unknown, are ignored as CKAN does.
    assert ckan.action.package_list(limit=3, offset=2, no_such_thing="x") == names[2:5]


def test_package_show_describes_a_dataset_with_its_downloads(
    ckan: ckanapi.RemoteCKAN, served: Served
) -> None:
    package = ckan.action.package_show(id="epay-annual")
    assert package["name"] == package["id"] == "epay-annual"
    assert package["title"] == "ePay payments by department and year"
    assert package["title_translated"]["ar"].startswith("مدفوعات")
    assert package["license_id"] == "CC-BY-4.0"
    assert package["isopen"] is True
    assert package["version"] == "v2"
    assert [t["name"] for t in package["tags"]] == ["payments"]
    assert package["organization"]["name"] == package["owner_org"] == "publisher"
    formats = [r["format"] for r in package["resources"]]
    assert formats == ["CSV", "JSON", "Parquet"]
    assert [r["datastore_active"] for r in package["resources"]] == [True, False, False]
    with served.client() as client:
        for resource in package["resources"]:
            download = client.get(resource["url"])
            assert download.status_code == 200
            assert download.headers["content-type"].startswith(resource["mimetype"])
    parquet = package["resources"][2]
    assert parquet["size"] == len(download.content)

    premium = ckan.action.package_show(id="payer-mix")
    assert premium["isopen"] is False
    assert {"key": "tier", "value": "premium"} in premium["extras"]


def test_package_show_of_an_unknown_dataset_is_not_found(ckan: ckanapi.RemoteCKAN) -> None:
    with pytest.raises(ckanapi.NotFound, match="no-such"):
        ckan.action.package_show(id="no-such-dataset")


def test_package_search_pages_through_everything_once(ckan: ckanapi.RemoteCKAN) -> None:
    seen: list[str] = []
    start = 0
    while True:
        page = ckan.action.package_search(q="*:*", rows=5, start=start, sort="name asc")
        assert page["count"] == SHIPPED_DATASETS
        if not page["results"]:
            break
        seen += [p["name"] for p in page["results"]]
        start += 5
    assert seen == sorted(ckan.action.package_list())


def test_package_search_finds_by_words_fields_and_facets(ckan: ckanapi.RemoteCKAN) -> None:
    found = ckan.action.package_search(q="adoption")
    assert "eservice-adoption" in [p["name"] for p in found["results"]]
    assert found["results"][0]["name"] == "eservice-adoption"  # the title match ranks first
    arabic = ckan.action.package_search(q="تبني")
    assert "eservice-adoption" in [p["name"] for p in arabic["results"]]

    open_payments = ckan.action.package_search(
        fq="tags:payments tier:open", rows=100, **{"facet.field": ["tags", "tier", "res_format"]}
    )
    names = {p["name"] for p in open_payments["results"]}
    assert names == {"epay-annual", "epay-monthly", "epay-payment-methods"}
    assert open_payments["facets"]["tier"] == {"open": 3}
    assert open_payments["facets"]["tags"]["payments"] == 3
    assert open_payments["facets"]["res_format"] == {"CSV": 3, "JSON": 3, "Parquet": 3}
    assert open_payments["search_facets"]["tags"]["items"][0] == {
        "name": "payments",
        "display_name": "payments",
        "count": 3,
    }

    not_open = ckan.action.package_search(fq="-tier:open", rows=100)
    assert not_open["count"] == SHIPPED_DATASETS - 6  # six open datasets
    assert all(not p["isopen"] for p in not_open["results"])
    by_department = ckan.action.package_search(fq="organization:rta", rows=0)
    assert by_department["count"] == SHIPPED_DATASETS
    assert by_department["results"] == []


def test_package_search_refuses_what_it_cannot_read(ckan: ckanapi.RemoteCKAN) -> None:
    with pytest.raises(ckanapi.SearchQueryError, match="OR"):
        ckan.action.package_search(q="payments OR adoption")
    with pytest.raises(ckanapi.SearchQueryError, match="no field 'colour'"):
        ckan.action.package_search(fq="colour:red")
    with pytest.raises(ckanapi.ValidationError) as refused:
        ckan.action.package_search(rows="many")
    assert "rows" in refused.value.error_dict


def test_organizations_are_departments_and_the_publisher(ckan: ckanapi.RemoteCKAN) -> None:
    names = ckan.action.organization_list()
    assert len(names) == 26
    assert "rta" in names
    assert "publisher" in names
    assert names == sorted(names)
    full = ckan.action.organization_list(all_fields=True, limit=2, sort="name desc")
    assert [o["name"] for o in full] == sorted(names, reverse=True)[:2]
    assert all(o["is_organization"] and o["package_count"] == SHIPPED_DATASETS for o in full)

    rta = ckan.action.organization_show(id="RTA", include_datasets=True)
    assert rta["title"] == "Roads and Transport Authority"
    assert rta["title_translated"]["ar"] == "هيئة الطرق والمواصلات"
    assert rta["package_count"] == len(rta["packages"]) == SHIPPED_DATASETS
    with pytest.raises(ckanapi.NotFound):
        ckan.action.organization_show(id="atlantis")


def page_through(ckan: ckanapi.RemoteCKAN, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every record, page by page, stopping on an empty page as CKAN clients do."""
    records: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = ckan.action.datastore_search(offset=offset, limit=70, **params)
        if not page["records"]:
            return records, page["total"]
        records += page["records"]
        offset += len(page["records"])


def test_datastore_search_pages_through_the_same_rows_as_the_api(
    ckan: ckanapi.RemoteCKAN, served: Served
) -> None:
    records, total = page_through(ckan, resource_id="epay-monthly-csv")
    expected = api_rows(served, "epay-monthly")
    assert total == expected["total"] == len(records) == 300
    assert records == expected["rows"]

    first = ckan.action.datastore_search(resource_id="epay-monthly", limit=1)
    assert [f["id"] for f in first["fields"]] == expected["columns"]
    assert first["fields"][0]["info"]["label"] == "Month"
    assert {f["id"]: f["type"] for f in first["fields"]}["amount_aed"] == "numeric"
    assert first["_links"]["next"].endswith("offset=1")


def test_datastore_search_filters_searches_sorts_and_selects(
    ckan: ckanapi.RemoteCKAN, served: Served
) -> None:
    sample = api_rows(served, "epay-monthly")["rows"]
    department = sample[0]["department"]
    channels = sorted({r["channel"] for r in sample})[:2]
    records, total = page_through(
        ckan,
        resource_id="epay-monthly-csv",
        filters={"department": department, "channel": channels},
        sort="amount_aed desc, month",
        fields=["month", "channel", "amount_aed"],
    )
    expected = api_rows(
        served,
        "epay-monthly",
        department=department,
        channel__in=",".join(channels),
        order="-amount_aed,month",
        select="month,channel,amount_aed",
    )
    assert total == expected["total"] > 0
    assert records == expected["rows"]

    month = sample[0]["month"]
    searched = ckan.action.datastore_search(
        resource_id="epay-monthly-csv", q=f"{month} {department}", limit=1000
    )
    assert searched["total"] == sum(
        1 for r in sample if r["month"] == month and r["department"] == department
    )
    by_column = ckan.action.datastore_search(
        resource_id="epay-monthly-csv", q={"month": month}, limit=1000
    )
    assert by_column["total"] == sum(1 for r in sample if r["month"] == month)
    assert all(r["month"] == month for r in by_column["records"])


def test_datastore_search_validation_errors_name_the_parameter(ckan: ckanapi.RemoteCKAN) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"filters": {"colour": "red"}}, "filters"),
        ({"filters": {"year": "last"}}, "filters"),
        ({"fields": ["year", "colour"]}, "fields"),
        ({"sort": "colour desc"}, "sort"),
        ({"limit": "lots"}, "limit"),
        ({"records_format": "xml"}, "records_format"),
    ]
    for params, field in cases:
        with pytest.raises(ckanapi.ValidationError) as refused:
            ckan.action.datastore_search(resource_id="epay-annual-csv", **params)
        assert field in refused.value.error_dict, (params, refused.value.error_dict)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.datastore_search(resource_id="no-such-resource")


def test_premium_rows_need_a_key_whose_plan_reads_them(served: Served) -> None:
    business = served.new_key("business")
    developer = served.new_key("developer")
    # ckanapi sends the key bare, as Authorization and X-CKAN-API-Key.
    with ckanapi.RemoteCKAN(served.url, apikey=business) as remote:
        page = remote.action.datastore_search(resource_id="payer-mix-csv", limit=5)
        assert page["total"] == len(pq.read_table(current_file(served.settings, "payer-mix")))
        assert len(page["records"]) == 5
        assert remote.action.package_list()  # a key also works on open actions
    for key in (None, developer, "bwb_aaaaaaaaaaaa_" + "x" * 43, "not-a-key"):
        with (
            ckanapi.RemoteCKAN(served.url, apikey=key) as remote,
            pytest.raises(ckanapi.NotAuthorized),
        ):
            remote.action.datastore_search(resource_id="payer-mix-csv")
    with served.client() as client:
        for headers in ({"X-CKAN-API-Key": business}, {"Authorization": business}):
            answer = client.get(
                "/api/3/action/datastore_search",
                params={"resource_id": "payer-mix"},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
        refused = client.get(
            "/api/action/package_list", headers={"X-CKAN-API-Key": "bwb_aaaaaaaaaaaa_" + "x" * 43}
        )
    # Refused by the platform's gate before routing, still in CKAN's envelope.
    assert refused.status_code == 403
    assert refused.json()["error"]["__type"] == "Authorization Error"
    assert refused.json()["help"].endswith("help_show?name=package_list")


def test_status_show_and_both_prefixes_over_get_and_post(served: Served) -> None:
    with ckanapi.RemoteCKAN(served.url, get_only=True) as remote:
        status = remote.action.status_show()
        assert "datastore" in status["extensions"]
        assert remote.action.package_search(fq="tags:reference")["count"] == 1
    with served.client() as client:
        for prefix in ("/api/3/action", "/api/action"):
            got = client.get(
                f"{prefix}/datastore_search",
                params={"resource_id": "epay-annual-csv", "filters": '{"year": 2013}', "limit": 2},
            )
            posted = client.post(
                f"{prefix}/datastore_search",
                json={"resource_id": "epay-annual-csv", "filters": {"year": 2013}, "limit": 2},
            )
            assert got.status_code == posted.status_code == 200
            body = got.json()
            assert body["success"] is True
            assert body["help"].endswith("/api/3/action/help_show?name=datastore_search")
            assert body["result"]["records"] == posted.json()["result"]["records"]
            assert all(r["year"] == 2013 for r in body["result"]["records"])
        described = client.get("/api/3/action/help_show", params={"name": "package_search"})
        assert "facet" in described.json()["result"]


ERRORS = [
    ("get", "/api/3/action/package_show?id=nope", 404, "Not Found Error"),
    ("get", "/api/action/datastore_search?resource_id=payer-mix-csv", 403, "Authorization Error"),
    (
        "get",
        "/api/3/action/datastore_search?resource_id=epay-annual&limit=-1",
        409,
        "Validation Error",
    ),
    ("get", "/api/3/action/package_search?q=(a)", 400, "Search Query Error"),
    ("get", "/api/3/action/package_create", 400, "Bad Request"),
    ("post", "/api/action/package_show", 400, "Bad Request"),
]


@pytest.mark.parametrize(("method", "path", "status", "kind"), ERRORS)
def test_every_failure_is_in_ckans_envelope(
    served: Served, method: str, path: str, status: int, kind: str
) -> None:
    with served.client() as client:
        answer = client.request(method, path, content=b"[1, 2]" if method == "post" else None)
    assert answer.status_code == status
    body = answer.json()
    assert body["success"] is False
    assert "result" not in body
    assert body["help"].startswith(served.url + "/api/3/action/help_show?name=")
    assert isinstance(body["error"], dict)
    assert body["error"]["__type"] == kind
    if kind != "Validation Error":
        assert body["error"]["message"]


def test_openapi_documents_every_action_and_parameter(served: Served) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for action in (
        "package_list",
        "package_show",
        "package_search",
        "organization_list",
        "organization_show",
        "datastore_search",
        "status_show",
        "help_show",
    ):
        path = paths[f"/api/3/action/{action}"]
        assert set(path) == {"get", "post"}
        assert path["get"]["description"]
        for parameter in path["get"].get("parameters", []):
            assert parameter["description"], (action, parameter["name"])
        assert "requestBody" in path["post"]
    search = {p["name"] for p in paths["/api/3/action/package_search"]["get"]["parameters"]}
    assert {"q", "fq", "rows", "start", "sort", "facet.field"} <= search
    assert not any(p.startswith("/api/action/") for p in paths)  # the alias is not listed twice


def test_every_action_refuses_credentials_that_are_not_valid(served: Served) -> None:
    """The CKAN side of the premium route walk (test_premium.py): whatever the action, on
    either prefix and method, a key or token that is not valid is CKAN's 403."""
    not_valid = [
        {"X-CKAN-API-Key": "bwb_aaaaaaaaaaaa_" + "x" * 43},
        {"Authorization": "not-a-key"},
        {"X-API-Key": "bwb_aaaaaaaaaaaa_" + "x" * 43},
        {"Authorization": "Bearer not.a.token"},
    ]
    with served.client() as client:
        for prefix in ("/api/3/action", "/api/action"):
            for action in ACTIONS:
                for method in ("GET", "POST"):
                    for headers in not_valid:
                        answer = client.request(method, f"{prefix}/{action}", headers=headers)
                        assert answer.status_code == 403, (prefix, action, method, headers)
                        error = answer.json()["error"]
                        assert error["__type"] == "Authorization Error"
        anonymous = client.get("/api/3/action/datastore_search?resource_id=epay-monthly-service")
    assert anonymous.status_code == 403


def test_a_rate_limited_ckan_client_gets_ckans_envelope(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, open_rate_limit="2/minute")
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["epay-annual"])
    with serve_release(settings) as server, server.client() as client:
        answers = [client.get("/api/3/action/status_show") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["success"] is False
    assert refused.json()["error"]["__type"] == "Too Many Requests"
    assert "rate limit" in refused.json()["error"]["message"]


DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    ("method", "parameters", "status", "kind", "mentions"),
    [
        ("get", {"offset": str(2**63)}, 409, "Validation Error", ("offset", str(2**63 - 1))),
        ("post", {"offset": 2**63}, 409, "Validation Error", ("offset", str(2**63 - 1))),
        ("post", None, 400, "Bad Request", ("nested", "32")),
        ("get", {"filters": DEEP}, 409, "Validation Error", ("filters", "dictionary")),
    ],
    ids=["offset past int64 (GET)", "offset past int64 (POST)", "JSON 1,000 deep", "deep GET"],
)
def test_hostile_datastore_parameters_are_refused_naming_them(
    served: Served,
    method: str,
    parameters: dict[str, object] | None,
    status: int,
    kind: str,
    mentions: tuple[str, ...],
) -> None:
    path = "/api/3/action/datastore_search"
    with served.client() as client:
        if method == "get":
            assert isinstance(parameters, dict)
            answer = client.get(path, params={"resource_id": "epay-annual", **parameters})
        elif parameters is None:
            body = '{"resource_id": "epay-annual", "filters": ' + DEEP + "}"
            answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
        else:
            answer = client.post(path, json={"resource_id": "epay-annual", **parameters})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["__type"] == kind
    said = str(error)
    for word in mentions:
        assert word in said, (word, said)
