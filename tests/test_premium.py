"""The premium tier: keys, plans, bearer tokens, limits, quotas and usage, end to end."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from fastapi.routing import APIRoute
from joserfc import jwt
from joserfc.jwk import OctKey

from bawaba.api.app import ROUTERS, create_app
from bawaba.catalog.load import load_catalog
from bawaba.keys.store import KeyStore
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from conftest import ROOT, Served, api_settings, env_for
from releases import write_release

API = "/api/v1/datasets"
PREMIUM = "payer-mix"
TEST_PLANS = {
    "tiny": {"rate_limits": "5/minute", "monthly_requests": None, "monthly_rows": None},
    "six_requests": {"rate_limits": "1000/minute", "monthly_requests": 6, "monthly_rows": None},
    "fifty_rows": {"rate_limits": "1000/minute", "monthly_requests": None, "monthly_rows": 50},
    "small_exports": {
        "rate_limits": "1000/minute",
        "monthly_requests": None,
        "monthly_rows": None,
        "max_export_rows": 10,
    },
}

# Paths that answer without a key whatever the dataset: catalog metadata, docs, operations
# and the credential exchange. Every other route must refuse a premium request without
# valid credentials; a new route is premium-safe unless it is added here on purpose.
PUBLIC = {
    "/",
    "/api/v1/datasets",
    "/api/v1/datasets/{dataset_id}",
    "/api/v1/datasets/{dataset_id}/versions",
    # Which versions each release made: the same metadata as /versions.
    "/api/v1/releases",
    "/api/v1/releases.atom",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/oauth/token",
    # Catalog metadata in the ecosystem formats (their downloads are the routes above).
    "/api/v1/datasets/{dataset_id}/datapackage.json",
    "/data.json",
    "/catalog.ttl",
    "/catalog.jsonld",
    "/api/3",
    # The portal's pages: a premium dataset's page says what it holds and how to subscribe,
    # never its rows (tests/test_portal.py holds it to that).
    "/datasets",
    "/datasets/{dataset_id}",
    "/plans",
}
# CKAN's Action API answers in CKAN's envelope and statuses (403, never 401): its walk over
# every action with and without valid credentials is in test_ckan.py.
CKAN_PREFIXES = ("/api/3/action/", "/api/action/")


def plans_file(folder: Path) -> Path:
    real = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    business = real["plans"]["business"]
    for name, overrides in TEST_PLANS.items():
        real["plans"][name] = {**business, "max_export_rows": None, **overrides}
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(real, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Any]]:
    root = tmp_path_factory.mktemp("premium")
    settings = api_settings(root, plans_path=plans_file(root), usage_flush_s=0.2)
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), seed=4)
    app = create_app(settings)
    with serve_in_thread(app) as url:
        yield Served(url, settings), app


@pytest.fixture
def served_gate(gate: tuple[Served, Any]) -> Served:
    return gate[0]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = env_for(settings) | {
        "BAWABA_KEY_STORE_PATH": str(settings.key_store_path),
        "BAWABA_PLANS_PATH": str(settings.plans_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "bawaba.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def shape_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint"}
    return str(body["error"]["code"])


# --- every premium route is closed without credentials ---------------------------------


def all_routes(app: Any) -> list[APIRoute]:
    """Every API route: those of the app's routers, and any added to the app itself."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    return routes + [r for r in app.routes if isinstance(r, APIRoute)]


def test_the_route_walk_sees_every_documented_path(gate: tuple[Served, Any]) -> None:
    _, app = gate
    walked = {r.path for r in all_routes(app)}
    assert set(app.openapi()["paths"]) <= walked


def test_every_route_refuses_premium_requests_without_valid_credentials(
    gate: tuple[Served, Any],
) -> None:
    served, app = gate
    checked = []
    with served.client() as client:
        for route in all_routes(app):
            if route.path in PUBLIC or route.path.startswith(CKAN_PREFIXES):
                continue
            path = (
                route.path.replace("{dataset_id}", PREMIUM)
                .replace("{fmt}", "csv")
                .replace("{version}", "v1")
            )
            assert "{" not in path, f"give {route.path} a sample value in this test"
            for method in sorted(route.methods):
                for headers in (
                    {},
                    {"X-API-Key": "bwb_aaaaaaaaaaaa_" + "x" * 43},
                    {"Authorization": "Bearer not.a.token"},
                ):
                    answer = client.request(method, path, headers=headers)
                    assert answer.status_code == 401, f"{method} {path} {headers}: {answer.text}"
                    if method != "HEAD":
                        assert shape_of(answer) in {"unauthorized", "invalid-key", "invalid-token"}
                checked.append(f"{method} {path}")
    assert {"GET /api/v1/datasets/payer-mix/records", "GET /api/v1/me/usage"} <= set(checked)


# Every parameter a dataset path takes, each not valid: who may read is decided first.
NOT_VALID = {
    "limit": "many",
    "cursor": "not-a-cursor",
    "version": "v999",
    "since": "v999",
    "select": "no_such_column",
    "order": "-no_such_column",
    "group_by": "no_such_column",
    "measures": "median(nothing)",
    "no_such_column__gte": "1",
}


def test_a_refused_caller_learns_nothing_from_its_parameters(
    served_gate: Served, gate: tuple[Served, Any]
) -> None:
    """Access comes before any parameter is looked at: a caller who may not read a premium
    dataset gets the same 401 (no key) or 403 (a plan without it) whatever it sent, never a
    400 or a 404 that would tell it which parameters or versions are valid."""
    _, app = gate
    developer = {"X-API-Key": served_gate.new_key("developer")}
    checked = []
    with served_gate.client() as client:
        for route in all_routes(app):
            if "{dataset_id}" not in route.path or route.path in PUBLIC:
                continue
            path = (
                route.path.replace("{dataset_id}", PREMIUM)
                .replace("{fmt}", "xlsx")
                .replace("{version}", "v999")
            )
            for headers, status in (({}, 401), (developer, 403)):
                answer = client.get(path, params=NOT_VALID, headers=headers)
                assert answer.status_code == status, f"{path} {headers}: {answer.text}"
                assert shape_of(answer) == {401: "unauthorized", 403: "forbidden"}[status]
            checked.append(route.path)
    assert "/api/v1/datasets/{dataset_id}/records" in checked
    assert "/api/v1/datasets/{dataset_id}/changes.{fmt}" in checked


# --- keys: shown once, hashed, revoked, rotated, expired -------------------------------


def test_a_key_is_shown_once_and_only_its_hash_is_stored(served_gate: Served) -> None:
    created = cli(
        served_gate.settings, "keys", "create", "--org", "Acme", "--plan", "business", "--json"
    )
    assert created.returncode == 0, created.stderr
    new = json.loads(created.stdout)
    assert set(new) >= {"id", "key", "plan"}
    assert new["key"].startswith(f"bwb_{new['id']}_")
    listed = cli(served_gate.settings, "keys", "list", "--json")
    assert new["id"] in listed.stdout
    assert new["key"] not in listed.stdout
    # Read in another process: closing a file this process also holds through SQLite would
    # drop SQLite's POSIX locks on it.
    store = served_gate.settings.key_store_path
    for secret in (new["key"], new["key"].removeprefix(f"bwb_{new['id']}_")):
        search = subprocess.run(
            ["grep", "-rcF", "-e", secret, *map(str, store.parent.glob(store.name + "*"))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert search.returncode == 1, search.stdout  # 1: found nowhere
    with served_gate.client() as client:
        assert (
            client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": new["key"]}).status_code
            == 200
        )


def test_a_revoked_key_is_refused_on_its_next_request(served_gate: Served) -> None:
    new = json.loads(
        cli(
            served_gate.settings, "keys", "create", "--org", "Acme", "--plan", "business", "--json"
        ).stdout
    )
    with served_gate.client() as client:
        token = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(new["id"], new["key"])
        ).json()["access_token"]
        assert (
            client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": new["key"]}).status_code
            == 200
        )
        revoked = cli(served_gate.settings, "keys", "revoke", new["id"])
        assert revoked.returncode == 0, revoked.stderr
        by_key = client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": new["key"]})
        by_token = client.get(
            f"{API}/{PREMIUM}/records", headers={"Authorization": f"Bearer {token}"}
        )
        open_data = client.get(f"{API}/epay-annual/records", headers={"X-API-Key": new["key"]})
        new_token = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(new["id"], new["key"])
        )
    for refused in (by_key, by_token, open_data):
        assert refused.status_code == 401
        assert shape_of(refused) == "key-not-usable"
        assert "revoked" in refused.json()["error"]["message"]
    assert new_token.status_code == 401


def test_rotation_replaces_the_secret_at_once(served_gate: Served) -> None:
    new = json.loads(
        cli(
            served_gate.settings, "keys", "create", "--org", "Acme", "--plan", "business", "--json"
        ).stdout
    )
    rotated = json.loads(cli(served_gate.settings, "keys", "rotate", new["id"], "--json").stdout)
    assert rotated["id"] == new["id"]
    assert rotated["key"] != new["key"]
    with served_gate.client() as client:
        old = client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": new["key"]})
        fresh = client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": rotated["key"]})
    assert old.status_code == 401
    assert fresh.status_code == 200


def test_an_expired_key_is_refused(served_gate: Served) -> None:
    from datetime import UTC, datetime, timedelta

    store = KeyStore.open(served_gate.settings)
    _, secret = store.create("Acme", "business", datetime.now(UTC) - timedelta(minutes=1))
    with served_gate.client() as client:
        answer = client.get(f"{API}/{PREMIUM}/records", headers={"X-API-Key": secret})
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]["message"]


def test_keys_create_names_the_valid_plans_and_lifetimes(served_gate: Served) -> None:
    no_plan = cli(served_gate.settings, "keys", "create", "--org", "Acme", "--plan", "gold")
    bad_life = cli(
        served_gate.settings,
        "keys",
        "create",
        "--org",
        "Acme",
        "--plan",
        "business",
        "--expires",
        "soon",
    )
    assert no_plan.returncode == 2
    assert "business" in no_plan.stderr
    assert bad_life.returncode == 2
    assert "90d" in bad_life.stderr


# --- bearer tokens ---------------------------------------------------------------------


def signing_key(settings: Settings) -> tuple[str, str]:
    keys: dict[str, str] = orjson.loads((settings.secrets_dir / "token-keys.json").read_bytes())
    return list(keys.items())[-1]


def claims_for(key_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "bawaba",
        "aud": "bawaba-api",
        "sub": key_id,
        "iat": now,
        "exp": now + 300,
    } | overrides


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_token_from_the_client_credentials_grant_reads_premium_data(served_gate: Served) -> None:
    key = served_gate.new_key("business")
    key_id = key.split("_")[1]
    with served_gate.client() as client:
        by_basic = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(key_id, key)
        )
        by_form = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": key_id, "client_secret": key},
        )
        token = by_basic.json()["access_token"]
        answer = client.get(
            f"{API}/{PREMIUM}/aggregate", headers={"Authorization": f"Bearer {token}"}
        )
        wrong_secret = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(key_id, key[:-1] + "x")
        )
        wrong_grant = client.post(
            "/oauth/token", data={"grant_type": "password"}, auth=(key_id, key)
        )
    assert by_basic.status_code == 200
    assert by_basic.json()["token_type"] == "Bearer"  # noqa: S105 - a token type, no secret
    assert by_basic.json()["expires_in"] == served_gate.settings.token_lifetime_s
    assert by_form.status_code == 200
    assert answer.status_code == 200
    assert answer.headers["ratelimit-policy"].startswith('"business"')
    assert wrong_secret.status_code == 401
    assert shape_of(wrong_secret) == "invalid-client"
    assert wrong_grant.status_code == 400
    assert shape_of(wrong_grant) == "unsupported-grant-type"


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong key",
        "alg none",
        "tampered claims",
        "unknown kid",
        "wrong audience",
        "other algorithm",
        "no subject",
    ],
)
def test_bad_tokens_are_refused(served_gate: Served, case: str) -> None:
    key = served_gate.new_key("business")
    key_id = key.split("_")[1]
    other_id = served_gate.new_key("enterprise").split("_")[1]
    kid, secret = signing_key(served_gate.settings)
    right = OctKey.import_key(secret)
    header = {"alg": "HS256", "kid": kid}
    if case == "expired":
        token = jwt.encode(header, claims_for(key_id, exp=int(time.time()) - 5), right)
    elif case == "wrong key":
        token = jwt.encode(header, claims_for(key_id), OctKey.import_key("w" * 64))
    elif case == "alg none":
        token = f"{b64({'alg': 'none', 'kid': kid})}.{b64(claims_for(key_id))}."
    elif case == "tampered claims":
        valid = jwt.encode(header, claims_for(key_id), right)
        head, _, signature = valid.split(".")
        token = f"{head}.{b64(claims_for(other_id))}.{signature}"
    elif case == "unknown kid":
        token = jwt.encode({"alg": "HS256", "kid": "k-retired"}, claims_for(key_id), right)
    elif case == "wrong audience":
        token = jwt.encode(header, claims_for(key_id, aud="someone-else"), right)
    elif case == "other algorithm":
        token = jwt.encode(
            {"alg": "HS512", "kid": kid}, claims_for(key_id), right, algorithms=["HS512"]
        )
    else:
        token = jwt.encode(
            header, {k: v for k, v in claims_for(key_id).items() if k != "sub"}, right
        )
    with served_gate.client() as client:
        answer = client.get(
            f"{API}/{PREMIUM}/records", headers={"Authorization": f"Bearer {token}"}
        )
        control = client.get(
            f"{API}/{PREMIUM}/records",
            headers={"Authorization": f"Bearer {jwt.encode(header, claims_for(key_id), right)}"},
        )
    assert answer.status_code == 401, answer.text
    assert shape_of(answer) == "invalid-token"
    assert control.status_code == 200, "the same token, made right, is accepted"


# --- what the gate keeps between requests must not outlive a change ---------------------


def test_a_credential_the_gate_remembers_is_checked_anew_after_any_change(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from starlette.datastructures import Headers

    from bawaba.api.gatekeeper import Authenticator
    from bawaba.keys.plans import load_plans
    from bawaba.keys.tokens import TokenIssuer
    from bawaba.serving.problems import Unauthorised

    path, secret = tmp_path / "keys.sqlite", b"s" * 32
    store = KeyStore(path, secret)
    plans = load_plans(ROOT / "api_keys" / "plans.yaml", load_catalog(ROOT / "catalog.yaml"))
    gate = Authenticator(store, TokenIssuer(tmp_path / "token-keys.json", 60), plans)

    def check(text: str) -> str:
        """Who the gate takes ``text`` for, or why it refuses it."""
        try:
            known = gate(Headers({"x-api-key": text}), datetime.now(UTC))
        except Unauthorised as refusal:
            return str(refusal)
        assert known is not None
        return known.principal.key.id

    key, text = store.create("Acme", "business", None)
    assert check(text) == key.id  # now remembered
    # Another connection, as `bawaba keys rotate` and `revoke` in another process are.
    _, rotated = KeyStore(path, secret).rotate(key.id)
    assert check(text).startswith("the API key is not valid")
    assert check(rotated) == key.id
    KeyStore(path, secret).revoke(key.id)
    assert "revoked" in check(rotated)
    # And writes through the same store, which leave its own data_version as it was.
    other, other_text = store.create("Acme", "business", None)
    assert check(other_text) == other.id
    store.revoke(other.id)
    assert "revoked" in check(other_text)


def test_a_token_kept_as_valid_is_refused_once_expired_or_its_signing_key_retired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bawaba.keys import tokens as tokens_module
    from bawaba.keys.tokens import KEPT_SIGNING_KEYS, InvalidToken, TokenIssuer

    issuer = TokenIssuer(tmp_path / "token-keys.json", lifetime_s=60)
    token = issuer.issue("abcdefghijkl", "business")
    assert issuer.verify(token) == "abcdefghijkl"  # now kept
    started = time.time()
    monkeypatch.setattr(tokens_module.time, "time", lambda: started + 61)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token)
    monkeypatch.undo()

    token = issuer.issue("abcdefghijkl", "business")
    assert issuer.verify(token) == "abcdefghijkl"
    for _ in range(KEPT_SIGNING_KEYS):
        # The file is replaced by another process's `rotate`; its mtime must move on.
        time.sleep(0.01)
        TokenIssuer(tmp_path / "token-keys.json", lifetime_s=60).rotate()
    with pytest.raises(InvalidToken, match="retired"):
        issuer.verify(token)


# --- plans, limits and quotas ----------------------------------------------------------


def test_a_plan_without_a_dataset_gets_403_naming_the_plans_that_have_it(
    served_gate: Served,
) -> None:
    with served_gate.client() as client:
        business = client.get(
            f"{API}/epay-daily/records",
            headers={"X-API-Key": served_gate.new_key("business")},
        )
        developer = client.get(
            f"{API}/{PREMIUM}/records", headers={"X-API-Key": served_gate.new_key("developer")}
        )
        enterprise = client.get(
            f"{API}/epay-daily/records",
            headers={"X-API-Key": served_gate.new_key("enterprise")},
        )
    assert business.status_code == 403
    assert shape_of(business) == "forbidden"
    assert "enterprise" in business.json()["error"]["hint"]
    assert "business" not in business.json()["error"]["hint"]
    assert developer.status_code == 403
    assert "business" in developer.json()["error"]["hint"]
    assert enterprise.status_code == 200


def concurrently(served: Served, key: str, path: str, times: int) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        with served.client() as client:
            return client.get(path, headers={"X-API-Key": key})

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(one, range(times)))


def test_a_plans_rate_limit_holds_under_concurrent_requests(served_gate: Served) -> None:
    answers = concurrently(
        served_gate, served_gate.new_key("tiny"), f"{API}/{PREMIUM}/records?limit=1", 16
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 5 + [429] * 11
    refused = next(a for a in answers if a.status_code == 429)
    assert shape_of(refused) == "rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"tiny";q=5;w=60'


def test_a_monthly_quota_holds_under_concurrent_requests_and_says_when_it_resets(
    served_gate: Served,
) -> None:
    key = served_gate.new_key("six_requests")
    answers = concurrently(served_gate, key, f"{API}/{PREMIUM}/records?limit=2", 15)
    assert sorted(a.status_code for a in answers) == [200] * 6 + [429] * 9
    spent = next(a for a in answers if a.status_code == 429)
    assert shape_of(spent) == "quota-spent"
    assert "resets on" in spent.json()["error"]["hint"]
    assert int(spent.headers["retry-after"]) > 0
    with served_gate.client() as client:
        usage = client.get("/api/v1/me/usage", headers={"X-API-Key": key}).json()
    assert usage["usage"]["requests"] == 6
    assert usage["usage"]["rows"] == 12
    assert usage["quota"]["requests"] == {"quota": 6, "used": 6, "remaining": 0}


def test_a_row_quota_refuses_once_spent(served_gate: Served) -> None:
    key = served_gate.new_key("fifty_rows")
    with served_gate.client() as client:
        statuses = [
            client.get(f"{API}/{PREMIUM}/records?limit=20", headers={"X-API-Key": key}).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


def test_usage_counts_are_exact(served_gate: Served) -> None:
    key = served_gate.new_key("business")
    headers = {"X-API-Key": key}
    with served_gate.client() as client:
        pages = [
            client.get(
                f"{API}/{PREMIUM}/records", params={"limit": 7, "department": d}, headers=headers
            )
            for d in ("RTA", "DEWA", "DM")
        ]
        grouped = client.get(
            f"{API}/{PREMIUM}/aggregate", params={"group_by": "payer_type"}, headers=headers
        )
        download = client.get(
            f"{API}/{PREMIUM}/download.csv", params={"department": "RTA"}, headers=headers
        )
        open_page = client.get(f"{API}/epay-annual/records", params={"limit": 3}, headers=headers)
        usage = client.get("/api/v1/me/usage", headers=headers).json()
    premium_rows = (
        sum(len(p.json()["rows"]) for p in pages)
        + len(grouped.json()["rows"])
        + len(download.text.strip().splitlines())
        - 1
    )
    assert usage["key"]["plan"] == "business"
    assert usage["usage"]["by_dataset"][PREMIUM]["requests"] == 5
    assert usage["usage"]["by_dataset"][PREMIUM]["rows"] == premium_rows
    assert usage["usage"]["by_dataset"]["epay-annual"] == {
        "requests": 1,
        "rows": 3,
        "bytes": len(open_page.content),
    }
    assert usage["usage"]["requests"] == 6
    assert usage["quota"]["requests"]["remaining"] == 1_000_000 - 6


def test_a_download_larger_than_the_plan_exports_is_refused(served_gate: Served) -> None:
    key = served_gate.new_key("small_exports")
    with served_gate.client() as client:
        whole = client.get(f"{API}/{PREMIUM}/download.parquet", headers={"X-API-Key": key})
        small = client.get(
            f"{API}/{PREMIUM}/download.csv",
            params={"department": "RTA", "quarter": "2012-Q1"},
            headers={"X-API-Key": key},
        )
    assert whole.status_code == 403
    assert "business" in whole.json()["error"]["hint"]
    assert small.status_code == 200


def test_a_free_developer_key_raises_the_open_tier_limits(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, open_rate_limit="3/minute")
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["epay-annual"])
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        anonymous = [client.get(f"{API}/epay-annual/records").status_code for _ in range(4)]
        key = Served(url, settings).new_key("developer")
        keyed = [
            client.get(f"{API}/epay-annual/records", headers={"X-API-Key": key}) for _ in range(6)
        ]
    assert anonymous == [200, 200, 200, 429]
    assert [k.status_code for k in keyed] == [200] * 6
    assert keyed[0].headers["ratelimit-policy"].startswith('"developer";q=600')
