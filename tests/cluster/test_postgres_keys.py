"""Keys, token signing keys and usage in PostgreSQL, shared by replicas.

The key store's contract runs against both stores (SQLite, the default, and PostgreSQL),
then PostgreSQL's own promises (migrations, the store secret, lost connections), then two
real ``bawaba serve`` processes over one PostgreSQL: a key or token works on both, and a
revoked or rotated key is refused by both on the very next request.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres import PostgresServer, free_port, postgres_server
from pydantic import ValidationError
from starlette.datastructures import Headers

from bawaba.core.key_store import KeyNotFound, KeyStore, SigningKeys, Usage
from bawaba.errors import BawabaError, ConfigError
from bawaba.keys.postgres_schema import LATEST, MIGRATIONS
from bawaba.keys.postgres_store import PostgresKeyStore
from bawaba.keys.store import KeyStore as SqliteKeyStore
from bawaba.keys.tokens import KEPT_SIGNING_KEYS, FileSigningKeys, InvalidToken, TokenIssuer
from bawaba.settings import Settings
from conftest import ROOT

pytestmark = pytest.mark.xdist_group("postgres")

SECRET = b"a-store-secret-of-32-characters!"
PLANS = list(yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text())["plans"])
PREMIUM = "/api/v1/datasets/payer-mix/records?limit=5"
_databases = itertools.count()


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def new_database(pg: PostgresServer) -> str:
    return pg.new_database(f"keys_{os.getpid()}_{next(_databases)}")


@dataclass
class Backend:
    """Opens the same key store again, as another process (or replica) would."""

    name: str
    open: Callable[[], KeyStore]
    signing_keys: Callable[[KeyStore], SigningKeys]

    @cached_property
    def one(self) -> KeyStore:
        return self.open()

    @cached_property
    def other(self) -> KeyStore:
        return self.open()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "keys.sqlite"
        yield Backend(
            "sqlite",
            lambda: SqliteKeyStore(path, SECRET),
            lambda _: FileSigningKeys(tmp_path / "token-keys.json"),
        )
        return
    url = new_database(request.getfixturevalue("pg"))
    opened: list[PostgresKeyStore] = []

    def open_store() -> KeyStore:
        opened.append(PostgresKeyStore(url, SECRET))
        return opened[-1]

    def signing_keys(store: KeyStore) -> SigningKeys:
        assert isinstance(store, PostgresKeyStore)
        return store.signing_keys()

    yield Backend("postgresql", open_store, signing_keys)
    for store in opened:
        store.close()


# --- the contract, on both stores ----------------------------------------------------


def test_an_issued_key_verifies_with_its_own_text_only(backend: Backend) -> None:
    store = backend.open()
    key, text = store.create("Acme", "business", None)
    other = backend.open()
    assert other.verify(key.id, text) == key
    assert other.verify(key.id, text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert other.verify("aaaaaaaaaaaa", text) is None
    with pytest.raises(KeyNotFound, match="aaaaaaaaaaaa"):
        other.get("aaaaaaaaaaaa")


def test_keys_are_listed_oldest_first_with_their_plan_and_expiry(backend: Backend) -> None:
    store = backend.open()
    expiry = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    made = [store.create(f"Org {plan}", plan, expiry)[0] for plan in PLANS]
    made.append(store.create("Forever", PLANS[0], None)[0])
    listed = backend.open().list()
    assert listed == made
    assert [k.plan for k in listed] == [*PLANS, PLANS[0]]
    assert listed[0].expires_at == expiry
    assert listed[0].expires_at.utcoffset() == timedelta(0)
    assert listed[-1].expires_at is None
    assert all(k.created_at.tzinfo is not None for k in listed)


def test_a_revoked_key_stays_revoked_from_its_first_revocation(backend: Backend) -> None:
    store = backend.open()
    key, text = store.create("Acme", "business", None)
    revoked = backend.open().revoke(key.id)
    assert revoked.revoked_at is not None
    assert not revoked.usable(datetime.now(UTC))
    again = store.revoke(key.id)
    assert again.revoked_at == revoked.revoked_at
    found = store.verify(key.id, text)
    assert found is not None
    assert "was revoked" in found.why_unusable(datetime.now(UTC))
    with pytest.raises(KeyNotFound):
        store.revoke("bbbbbbbbbbbb")


def test_rotation_gives_the_same_key_a_new_secret(backend: Backend) -> None:
    store = backend.open()
    key, old = store.create("Acme", "developer", None)
    same, new = backend.open().rotate(key.id)
    assert same.id == key.id
    assert same.plan == "developer"
    assert new != old
    assert store.verify(key.id, old) is None
    assert store.verify(key.id, new) == key
    store.revoke(key.id)
    with pytest.raises(BawabaError) as refused:
        store.rotate(key.id)
    assert refused.value.slug == "revoked-key"


def test_the_version_moves_with_every_key_change(backend: Backend) -> None:
    reader, writer = backend.open(), backend.open()
    before = reader.version()
    assert reader.version() == before  # nothing written
    key, _ = writer.create("Acme", "business", None)
    after_create = reader.version()
    assert after_create != before
    writer.rotate(key.id)
    after_rotate = reader.version()
    assert after_rotate != after_create
    writer.revoke(key.id)
    assert reader.version() != after_rotate


Batches = st.lists(
    st.dictionaries(
        st.tuples(st.sampled_from(["2026-01", "2026-02"]), st.sampled_from(["a", "b", "c"])),
        st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**9), st.integers(0, 10**12)),
        max_size=4,
    ),
    max_size=5,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=Batches)
def test_usage_adds_up_by_month_and_dataset(backend: Backend, batches: list[Any]) -> None:
    key, _ = backend.one.create("Acme", "business", None)
    expected: dict[tuple[str, str], Usage] = {}
    for batch in batches:
        backend.one.add_usage({(key.id, month, ds): u for (month, ds), u in batch.items()})
        for where, used in batch.items():
            expected[where] = expected.get(where, Usage()) + used
    for month in ("2026-01", "2026-02"):
        want = {ds: u for (m, ds), u in expected.items() if m == month}
        assert backend.other.usage(key.id, month) == want


def test_usage_added_at_once_by_many_writers_loses_nothing(backend: Backend) -> None:
    key, _ = backend.open().create("Acme", "business", None)
    writers, flushes = 4, 25
    stores = [backend.open() for _ in range(writers)]
    start = threading.Barrier(writers)

    def flush_many(store: KeyStore) -> None:
        start.wait()
        for _ in range(flushes):
            store.add_usage({(key.id, "2026-03", "payer-mix"): Usage(1, 10, 100)})

    threads = [threading.Thread(target=flush_many, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = writers * flushes
    assert backend.open().usage(key.id, "2026-03") == {
        "payer-mix": Usage(total, 10 * total, 100 * total)
    }


def test_tokens_signed_through_one_store_verify_through_another(backend: Backend) -> None:
    one, other = backend.open(), backend.open()
    signer = TokenIssuer(backend.signing_keys(one), lifetime_s=60)
    checker = TokenIssuer(backend.signing_keys(other), lifetime_s=60)
    token = signer.issue("abcdefghijkl", "business")
    assert checker.verify(token) == "abcdefghijkl"
    for _ in range(KEPT_SIGNING_KEYS):
        time.sleep(0.01)  # the file's mtime must move (FileSigningKeys)
        signer.rotate()
    assert len(backend.signing_keys(other).read()) == KEPT_SIGNING_KEYS
    with pytest.raises(InvalidToken, match="retired"):
        checker.verify(token)
    assert checker.verify(signer.issue("abcdefghijkl", "business")) == "abcdefghijkl"


# --- PostgreSQL's own promises -------------------------------------------------------


def applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT version, description FROM key_store_migrations ORDER BY version"
        ).fetchall()
    return [(int(v), str(d)) for v, d in rows]


def test_migrations_apply_once_in_order_and_reopening_changes_nothing(
    pg: PostgresServer,
) -> None:
    url = new_database(pg)
    PostgresKeyStore(url, SECRET).close()
    first = applied(url)
    assert first == [(m.version, m.description) for m in MIGRATIONS]
    with psycopg.connect(url) as db:
        signing = db.execute("SELECT count(*) FROM signing_keys").fetchone()
    assert signing == (1,)  # the first signing key comes with the schema
    store = PostgresKeyStore(url, SECRET)
    key, text = store.create("Acme", "business", None)
    store.close()
    reopened = PostgresKeyStore(url, SECRET)
    assert applied(url) == first
    assert reopened.verify(key.id, text) == key
    reopened.close()


def test_replicas_opening_a_new_database_at_once_all_succeed(pg: PostgresServer) -> None:
    url = new_database(pg)
    replicas = 6
    start = threading.Barrier(replicas)
    opened: list[PostgresKeyStore] = []
    failures: list[BaseException] = []

    def open_at_once() -> None:
        start.wait()
        try:
            opened.append(PostgresKeyStore(url, SECRET))
        except BaseException as error:  # every failure is the test's finding
            failures.append(error)

    threads = [threading.Thread(target=open_at_once) for _ in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()
    assert not failures
    assert len(opened) == replicas
    assert [v for v, _ in applied(url)] == list(range(1, LATEST + 1))


def test_a_database_migrated_by_a_newer_bawaba_is_refused(pg: PostgresServer) -> None:
    url = new_database(pg)
    PostgresKeyStore(url, SECRET).close()
    with psycopg.connect(url) as db:
        db.execute(
            "INSERT INTO key_store_migrations (version, description) VALUES (%s, 'future')",
            (LATEST + 1,),
        )
    with pytest.raises(ConfigError, match=f"version {LATEST + 1}, newer than this Bawaba"):
        PostgresKeyStore(url, SECRET)


def test_a_replica_with_another_store_secret_is_refused_with_the_fix(
    pg: PostgresServer,
) -> None:
    url = new_database(pg)
    PostgresKeyStore(url, SECRET).close()
    with pytest.raises(ConfigError, match="made with another store secret") as refused:
        PostgresKeyStore(url, b"another-secret-of-32-characters!")
    assert "BAWABA_KEY_STORE_SECRET" in refused.value.hint


def test_an_unreachable_store_is_named_without_its_password() -> None:
    url = f"postgresql://bawaba:hunter2-secret@127.0.0.1:{free_port()}/keys"
    with pytest.raises(
        ConfigError, match=r"cannot open the key store at 127\.0\.0\.1:\d+/keys"
    ) as refused:
        PostgresKeyStore(url, SECRET)
    assert "hunter2" not in str(refused.value)


def test_a_key_store_url_that_is_not_postgresql_is_refused_naming_the_form() -> None:
    with pytest.raises(ValidationError, match=r"must be a PostgreSQL URL \(postgresql://"):
        Settings(key_store_url="mysql://bawaba@127.0.0.1/keys")  # type: ignore[arg-type]
    unset = Settings()
    assert unset.key_store_url is None  # the SQLite file, as before


def test_a_lost_listening_connection_never_hides_a_revocation(pg: PostgresServer) -> None:
    from bawaba.api.gatekeeper import Authenticator
    from bawaba.catalog.load import load_catalog
    from bawaba.keys.plans import load_plans
    from bawaba.serving.problems import Unauthorised

    url = new_database(pg)
    store = PostgresKeyStore(url, SECRET)
    plans = load_plans(ROOT / "api_keys" / "plans.yaml", load_catalog(ROOT / "catalog.yaml"))
    gate = Authenticator(store, TokenIssuer(store.signing_keys(), 60), plans)

    def check(text: str) -> str:
        try:
            known = gate(Headers({"x-api-key": text}), datetime.now(UTC))
        except Unauthorised as refusal:
            return str(refusal)
        assert known is not None
        return known.principal.key.id

    def revoke_by_hand(key_id: str) -> None:
        """As an operator in psql would: no store of this process knows."""
        with psycopg.connect(url) as db:
            db.execute("UPDATE keys SET revoked_at = now() WHERE id = %s", (key_id,))

    first, first_text = store.create("Acme", "business", None)
    second, second_text = store.create("Acme", "business", None)
    assert check(first_text) == first.id  # now remembered
    assert check(second_text) == second.id
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND query LIKE 'LISTEN%%'",
            (url.rsplit("/", 1)[1],),
        )
    revoke_by_hand(first.id)
    assert "revoked" in check(first_text)
    # Listening again, a change made by hand is announced (by the trigger) and seen.
    deadline = time.monotonic() + 5
    revoke_by_hand(second.id)
    while "revoked" not in check(second_text):
        assert time.monotonic() < deadline, "the revocation was never announced"
        time.sleep(0.05)
    store.close()


# --- two replicas over one PostgreSQL ------------------------------------------------


@dataclass
class Replicas:
    urls: list[str]
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bawaba.cli", *args],
            env=self.env | {"BAWABA_VAR_DIR": self.env["BAWABA_VAR_DIR"] + "-admin"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def new_key(self, plan: str = "business") -> dict[str, str]:
        """A key made where the replicas' store is (not through the CLI, which the
        revocations and rotations here go through: it costs seconds a call)."""
        store = PostgresKeyStore(self.env["BAWABA_KEY_STORE_URL"], SECRET)
        try:
            key, text = store.create("Acme", plan, None)
        finally:
            store.close()
        return {"id": key.id, "key": text}

    def statuses(self, headers: dict[str, str]) -> list[int]:
        return [
            httpx.get(url + PREMIUM, headers=headers, timeout=30).status_code for url in self.urls
        ]


@pytest.fixture(scope="module")
def replicas(pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    from bawaba.catalog.load import load_catalog
    from releases import write_release

    root = tmp_path_factory.mktemp("replicas")
    write_release(root / "datasets", load_catalog(ROOT / "catalog.yaml"), seed=5)
    base = {k: v for k, v in os.environ.items() if not k.startswith("BAWABA_")} | {
        "BAWABA_KEY_STORE_URL": new_database(pg),
        "BAWABA_KEY_STORE_SECRET": SECRET.decode(),
        "BAWABA_DATASETS_DIR": str(root / "datasets"),
        "BAWABA_CATALOG_PATH": str(ROOT / "catalog.yaml"),
        "BAWABA_PLANS_PATH": str(ROOT / "api_keys" / "plans.yaml"),
        "BAWABA_OPEN_RATE_LIMIT": "100000/minute",
        "BAWABA_USAGE_FLUSH_S": "0.2",
        "BAWABA_VAR_DIR": str(root / "var"),
    }
    servers: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for n in range(2):
            port = free_port()
            # Each its own process and var/ (no shared file): only PostgreSQL joins them.
            servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bawaba.cli", "serve", "--port", str(port)],
                    env=base | {"BAWABA_VAR_DIR": str(root / f"var-{n}")},
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for server, url in zip(servers, urls, strict=True):
            _wait_for(server, url)
        yield Replicas(urls, base)
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.communicate()


def _wait_for(server: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
            return
        except httpx.TransportError:
            if server.poll() is not None:
                pytest.fail(f"a replica exited: {server.stderr.read() if server.stderr else ''}")
            assert time.monotonic() < deadline, "a replica did not start"
            time.sleep(0.2)


def test_a_key_works_on_both_replicas_until_revoked_then_neither_takes_it(
    replicas: Replicas,
) -> None:
    made = replicas.cli("keys", "create", "--org", "Acme", "--plan", "business", "--json")
    assert made.returncode == 0, made.stderr
    key = yaml.safe_load(made.stdout)
    headers = {"X-API-Key": key["key"]}
    assert replicas.statuses(headers) == [200, 200]
    assert replicas.statuses(headers) == [200, 200]  # now remembered by both
    revoked = replicas.cli("keys", "revoke", key["id"])
    assert revoked.returncode == 0, revoked.stderr
    # The very next request, on each replica, with no wait.
    refused = [httpx.get(url + PREMIUM, headers=headers, timeout=30) for url in replicas.urls]
    assert [r.status_code for r in refused] == [401, 401]
    assert all("was revoked" in r.json()["error"]["message"] for r in refused)


def test_a_rotated_key_old_secret_is_refused_by_both_replicas_at_once(
    replicas: Replicas,
) -> None:
    key = replicas.new_key()
    assert replicas.statuses({"X-API-Key": key["key"]}) == [200, 200]
    rotated = replicas.cli("keys", "rotate", key["id"], "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = yaml.safe_load(rotated.stdout)["key"]
    assert replicas.statuses({"X-API-Key": key["key"]}) == [401, 401]
    assert replicas.statuses({"X-API-Key": new}) == [200, 200]


def test_a_token_from_one_replica_is_taken_by_the_other_until_its_key_is_revoked(
    replicas: Replicas,
) -> None:
    key = replicas.new_key()
    minted = httpx.post(
        f"{replicas.urls[0]}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(key["id"], key["key"]),
        timeout=30,
    )
    assert minted.status_code == 200, minted.text
    bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert replicas.statuses(bearer) == [200, 200]
    assert replicas.cli("keys", "revoke", key["id"]).returncode == 0
    assert replicas.statuses(bearer) == [401, 401]


def test_retired_signing_keys_are_refused_by_both_replicas(
    replicas: Replicas, pg: PostgresServer
) -> None:
    key = replicas.new_key()
    minted = httpx.post(
        f"{replicas.urls[1]}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(key["id"], key["key"]),
        timeout=30,
    )
    bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert replicas.statuses(bearer) == [200, 200]
    store = PostgresKeyStore(replicas.env["BAWABA_KEY_STORE_URL"], SECRET)
    try:
        issuer = TokenIssuer(store.signing_keys(), 60)
        for _ in range(KEPT_SIGNING_KEYS):
            issuer.rotate()
    finally:
        store.close()
    time.sleep(0.1)  # a rotation in this test process, not one that returned to a caller
    refused = [httpx.get(url + PREMIUM, headers=bearer, timeout=30) for url in replicas.urls]
    assert [r.status_code for r in refused] == [401, 401]
    assert all("retired" in r.json()["error"]["message"] for r in refused)


def test_usage_served_by_both_replicas_adds_up_exactly(replicas: Replicas) -> None:
    key = replicas.new_key()
    headers = {"X-API-Key": key["key"]}
    served = [0, 0]
    for n in range(7):
        answer = httpx.get(replicas.urls[n % 2] + PREMIUM, headers=headers, timeout=30)
        assert answer.status_code == 200
        served[n % 2] += 1
    # Each replica writes its counts every BAWABA_USAGE_FLUSH_S (0.2 s); its own are exact
    # on /me/usage at once, the other's after its next flush.
    deadline = time.monotonic() + 10
    while True:
        seen = [
            httpx.get(f"{url}/api/v1/me/usage", headers=headers, timeout=30).json()
            for url in replicas.urls
        ]
        totals = [s["usage"]["requests"] for s in seen]
        assert all(t <= sum(served) for t in totals), totals
        if totals == [sum(served), sum(served)]:
            break
        assert time.monotonic() < deadline, f"usage seen {totals}, served {served}"
        time.sleep(0.1)
    assert seen[0]["usage"] == seen[1]["usage"]
