"""Two ``bawaba serve`` replicas behind nginx, as a cluster: releases on S3 (moto's server),
keys in PostgreSQL, rate limits, quotas and usage in Redis, each replica with its own working
folder, all on loopback. What a client sees through nginx: both replicas serve the same
release, a killed publish changes nothing, limits and quotas hold exactly whichever replica
answers, a revoked key is refused everywhere at once, and a replica killed under load costs
no request.

Each test that is anonymous speaks from a loopback address of its own (127.0.0.0/8 is all
loopback), so its rate-limit budget is its own and "per client address" can be shown.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from postgres import postgres_server
from services import ObjectStore, moto_server, nginx, redis_server

from bawaba.cluster.nginx import Proxy
from bawaba.cluster.replicas import Replica, Shared, replica
from bawaba.core import versions
from bawaba.keys.postgres_store import PostgresKeyStore
from bawaba.loopback import serve_in_thread
from bawaba.settings import Settings
from bawaba.simulator.server import create_app
from conftest import ROOT, env_for, random_key

pytestmark = pytest.mark.xdist_group("replicas")  # one worker builds the cluster

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
BUCKET = "bawaba-releases"
PREFIX = "releases"
DEPARTMENTS = ("RTA", "DEWA")
OPEN = "epay-payment-methods"
RECORDS = f"/api/v1/datasets/{OPEN}/records?limit=5"
SECRET = "a-store-secret-of-32-characters!"  # noqa: S105 - a test's own store
ANONYMOUS_PER_MINUTE = 20
REQUEST_QUOTA = 30
ROW_QUOTA = 100
QUOTA_PLANS = {
    "thirty_requests": {"monthly_requests": REQUEST_QUOTA, "monthly_rows": None},
    "hundred_rows": {"monthly_requests": None, "monthly_rows": ROW_QUOTA},
    "load": {"monthly_requests": 1_000_000, "monthly_rows": None},
}


def _plans_file(folder: Path) -> Path:
    real = yaml.safe_load((ROOT / "api_keys" / "plans.yaml").read_text(encoding="utf-8"))
    business = real["plans"]["business"]
    for name, overrides in QUOTA_PLANS.items():
        real["plans"][name] = {**business, "rate_limits": "100000/minute", **overrides}
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(real, allow_unicode=True), encoding="utf-8")
    return path


def client(url: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client of ``url`` whose connections come from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=url, transport=transport, timeout=30)


@dataclass
class Services:
    """What the replicas share, and the pipeline workspace that publishes to it."""

    store: ObjectStore
    workspace: Settings
    """Its store holds June; the release on S3 is May's."""
    shared: Shared
    folder: Path

    def env(self, var_dir: Path) -> dict[str, str]:
        return self.shared.env(env_for(self.workspace), var_dir)

    def cli_env(self) -> dict[str, str]:
        return self.env(self.workspace.var_dir)

    def bawaba(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The CLI on the pipeline workspace, as a publisher or an operator runs it."""
        return subprocess.run(
            [BAWABA, *args],
            env=self.cli_env() | env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def new_key(self, plan: str) -> tuple[str, dict[str, str]]:
        """A key made in the replicas' PostgreSQL store: its id and the header to send."""
        keys = PostgresKeyStore(self.shared.key_store_url, SECRET.encode())
        try:
            key, text = keys.create("Acme", plan, None)
        finally:
            keys.close()
        return key.id, {"X-API-Key": text}


@dataclass
class Cluster(Services):
    replicas: list[Replica]
    proxy: Proxy

    @property
    def urls(self) -> list[str]:
        return [self.proxy.url, *(r.url for r in self.replicas)]

    def pointer(self) -> versions.Release:
        body = self.store.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/{versions.CURRENT}")
        return versions.Release.model_validate_json(body["Body"].read())

    def objects(self) -> set[str]:
        found: set[str] = set()
        for page in (
            self.store.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
        ):
            found |= {item["Key"] for item in page.get("Contents", [])}
        return found


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def limit_storage_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Where both replicas count rate limits, quotas and usage: one Redis, as replicas on
    several machines would."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, limit_storage_uri: str) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    workspace = Settings(
        var_dir=root / "var",
        datasets_dir=root / "no-datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        scale=0.02,
        pseudonym_key=random_key(),  # type: ignore[arg-type]
    )
    chosen = [arg for d in DEPARTMENTS for arg in ("--department", d)]
    with ExitStack() as stack:
        store = stack.enter_context(moto_server(root))
        store.client().create_bucket(Bucket=BUCKET)
        pg = stack.enter_context(postgres_server())
        shared = Shared(
            datasets_url=f"s3://{BUCKET}/{PREFIX}",
            key_store_url=pg.new_database("keys"),
            key_store_secret=SECRET,
            rate_limit_storage_uri=limit_storage_uri,
            extra=store.env()
            | {
                "BAWABA_PLANS_PATH": str(_plans_file(root)),
                "BAWABA_OPEN_RATE_LIMIT": f"{ANONYMOUS_PER_MINUTE}/minute",
                "BAWABA_RELEASE_POINTER_TTL_S": "0.2",
                "BAWABA_USAGE_FLUSH_S": "0.2",
            },
        )
        services = Services(store, workspace, shared, root)

        def ingest(month: str) -> None:
            ok(services.bawaba("simulate", "--through", month, *chosen))
            with serve_in_thread(create_app(workspace.systems_dir)) as url:
                ok(
                    services.bawaba(
                        "pipelines", "run", *DEPARTMENTS, BAWABA_DEPARTMENTS_API_URL=url
                    )
                )

        ingest("2013-05")
        ok(services.bawaba("publish"))
        ingest("2013-06")  # for the publish that gets killed
        replicas = [
            stack.enter_context(replica(services.env(root / f"var-replica-{n}"), root))
            for n in range(2)
        ]
        proxy = stack.enter_context(nginx(root / "nginx", [r.address for r in replicas]))
        yield Cluster(store, workspace, shared, root, replicas, proxy)


def _answered_by(cluster: Cluster, since: int, count: int) -> Counter[str]:
    """How many of the ``count`` requests nginx logged after the first ``since`` each
    replica answered."""
    logged = cluster.proxy.upstreams(at_least=since + count)[since:]
    assert len(logged) == count, logged
    return Counter(tried[-1] for tried in logged)


def test_both_replicas_serve_the_release_on_object_storage(cluster: Cluster) -> None:
    version = cluster.pointer().datasets[OPEN]
    answers = []
    for url in cluster.urls:
        with client(url, "127.0.0.10") as api:
            answers.append(api.get(RECORDS))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.headers["X-Dataset-Version"] for a in answers} == {version}
    # An answer's links name the address asked, so each address has its own ETag...
    assert len({a.headers["ETag"] for a in answers}) == 3
    assert len({_rows(a) for a in answers}) == 1
    # Through nginx the next page is nginx's, whichever replica wrote the link.
    assert answers[0].json()["next"].startswith(f"{cluster.proxy.url}/api/v1/")
    assert answers[1].json()["next"].startswith(f"{cluster.replicas[0].url}/api/v1/")

    before = len(cluster.proxy.upstreams())
    with client(cluster.proxy.url, "127.0.0.10") as api:
        through = [api.get(RECORDS) for _ in range(6)]
    assert [a.status_code for a in through] == [200] * 6
    assert {a.headers["X-Dataset-Version"] for a in through} == {version}
    # ...and through nginx every replica gives the one ETag: a cache in front can keep it.
    assert {a.headers["ETag"] for a in through} == {answers[0].headers["ETag"]}
    assert _answered_by(cluster, before, 6) == {r.address: 3 for r in cluster.replicas}


def _rows(answer: httpx.Response) -> str:
    return str(answer.json()["rows"])


def test_a_publish_killed_while_writing_objects_leaves_the_previous_release_served(
    cluster: Cluster,
) -> None:
    previous = cluster.pointer()
    before = cluster.objects()
    with client(cluster.proxy.url, "127.0.0.11") as api:
        served = api.get(RECORDS).json()
    publisher = subprocess.Popen(
        [BAWABA, "publish"],
        env=cluster.cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    written: set[str] = set()
    deadline = time.monotonic() + 120
    while not written and publisher.poll() is None and time.monotonic() < deadline:
        written = cluster.objects() - before
        time.sleep(0.005)
    publisher.send_signal(signal.SIGKILL)
    printed, _ = publisher.communicate(timeout=30)
    assert publisher.returncode == -signal.SIGKILL, printed
    assert written, "the publish was killed after it had written objects"
    assert cluster.pointer() == previous, "killed before it switched"

    time.sleep(0.6)  # three times the replicas' pointer TTL
    for url in cluster.urls:
        with client(url, "127.0.0.11") as api:
            answer = api.get(RECORDS)
            assert answer.headers["X-Dataset-Version"] == previous.datasets[OPEN], url
            assert answer.json()["rows"] == served["rows"], url
            listed = api.get(f"/api/v1/datasets/{OPEN}/versions").json()["versions"]
            assert [v["version"] for v in listed] == [previous.datasets[OPEN]], url


def _get_all(
    url: str, path: str, times: int, source: str, headers: list[dict[str, str]]
) -> list[httpx.Response]:
    """``times`` GETs of ``path`` from 16 concurrent clients at ``source``."""
    clients = [client(url, source) for _ in range(16)]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(
                pool.map(lambda i: clients[i % 16].get(path, headers=headers[i]), range(times))
            )
    finally:
        for each in clients:
            each.close()


def test_the_anonymous_limit_is_exact_across_replicas_and_per_real_client(
    cluster: Cluster,
) -> None:
    before = len(cluster.proxy.upstreams())
    # Each claims another address: nginx appends the real one, and that is what counts.
    forged = [{"X-Forwarded-For": f"198.51.100.{i}"} for i in range(3 * ANONYMOUS_PER_MINUTE)]
    answers = _get_all(cluster.proxy.url, RECORDS, len(forged), "127.0.0.3", forged)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: ANONYMOUS_PER_MINUTE, 429: 2 * ANONYMOUS_PER_MINUTE}
    assert set(_answered_by(cluster, before, len(forged))) == {r.address for r in cluster.replicas}
    # Straight to a replica, from an address it does not trust, the claim is ignored too:
    # the caller is 127.0.0.3, whose budget is spent on both replicas.
    for each in cluster.replicas:
        with client(each.url, "127.0.0.3") as api:
            refused = api.get(RECORDS, headers={"X-Forwarded-For": "203.0.113.7"})
        assert refused.status_code == 429, each.address
        assert refused.json()["error"]["code"] == "rate-limited"
    # Another client through the same nginx has its own budget: nginx's word is believed.
    with client(cluster.proxy.url, "127.0.0.4") as api:
        assert api.get(RECORDS).status_code == 200


def test_a_keys_request_and_row_quotas_are_exact_across_replicas(cluster: Cluster) -> None:
    _, key = cluster.new_key("thirty_requests")
    answers = _get_all(cluster.proxy.url, RECORDS, 80, "127.0.0.1", [key] * 80)
    assert Counter(a.status_code for a in answers) == {200: REQUEST_QUOTA, 429: 80 - REQUEST_QUOTA}
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {"quota-spent"}
    for url in cluster.urls:
        with client(url) as api:
            quota = api.get("/api/v1/me/usage", headers=key).json()["quota"]["requests"]
        assert quota == {"quota": REQUEST_QUOTA, "used": REQUEST_QUOTA, "remaining": 0}, url

    _, key = cluster.new_key("hundred_rows")
    path = f"/api/v1/datasets/{OPEN}/records?limit=7"
    answers = _get_all(cluster.proxy.url, path, 40, "127.0.0.1", [key] * 40)
    served = [a for a in answers if a.status_code == 200]
    assert sum(len(a.json()["rows"]) for a in served) == ROW_QUOTA
    assert {a.status_code for a in answers} == {200, 429}
    for url in cluster.urls:
        with client(url) as api:
            quota = api.get("/api/v1/me/usage", headers=key).json()["quota"]["rows"]
        assert quota == {"quota": ROW_QUOTA, "used": ROW_QUOTA, "remaining": 0}, url


def test_a_revoked_key_is_refused_by_both_replicas_on_the_next_request(
    cluster: Cluster,
) -> None:
    key_id, key = cluster.new_key("business")
    for url in cluster.urls:
        with client(url) as api:
            assert api.get(RECORDS, headers=key).status_code == 200, url
    ok(cluster.bawaba("keys", "revoke", key_id))
    for url in cluster.urls:  # with no wait
        with client(url) as api:
            refused = api.get(RECORDS, headers=key)
        assert refused.status_code == 401, url
        assert "was revoked" in refused.json()["error"]["message"]


def test_usage_is_exact_after_requests_spread_over_both_replicas(cluster: Cluster) -> None:
    _, key = cluster.new_key("business")
    before = len(cluster.proxy.upstreams())
    with client(cluster.proxy.url) as api:
        for _ in range(7):
            assert api.get(RECORDS, headers=key).status_code == 200
    spread = _answered_by(cluster, before, 7)
    assert sorted(spread.values()) == [3, 4]
    # Each replica writes its counts every 0.2 s; the other's are seen after its next write.
    deadline = time.monotonic() + 10
    while True:
        seen = []
        for url in cluster.urls:
            with client(url) as api:
                seen.append(api.get("/api/v1/me/usage", headers=key).json())
        if all(s["usage"]["requests"] == 7 for s in seen):
            break
        assert time.monotonic() < deadline, [s["usage"]["requests"] for s in seen]
        time.sleep(0.1)
    assert seen[0]["usage"]["by_dataset"] == {OPEN: seen[0]["usage"]["by_dataset"][OPEN]}
    assert seen[0]["usage"]["by_dataset"][OPEN]["requests"] == 7
    assert seen[0]["usage"]["rows"] == 7 * 5
    assert seen[0]["usage"] == seen[1]["usage"] == seen[2]["usage"]
    assert seen[0]["quota"]["requests"]["used"] == 7


def test_a_replica_killed_under_load_costs_no_request(cluster: Cluster) -> None:
    """nginx in front of a replica of the fixture's and one of this test's own, killed with
    SIGKILL while four clients keep asking: every GET is answered 200, and the quota count
    in Redis is every answer, plus at most the requests the dead replica had admitted
    and nginx then retried."""
    _, key = cluster.new_key("load")
    with ExitStack() as stack:
        doomed = stack.enter_context(
            replica(cluster.env(cluster.folder / "var-doomed"), cluster.folder)
        )
        survivor = cluster.replicas[0]
        proxy = stack.enter_context(
            nginx(cluster.folder / "nginx-kill", [survivor.address, doomed.address])
        )
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def load() -> None:
            with client(proxy.url) as api:
                for _ in range(1000):  # bounded: at most 4,000 requests in all
                    if stop.is_set():
                        return
                    status = api.get(RECORDS, headers=key).status_code
                    with lock:
                        statuses[status] += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.8)
        doomed.process.send_signal(signal.SIGKILL)
        assert doomed.process.wait(timeout=10) == -signal.SIGKILL
        with lock:
            at_kill = sum(statuses.values())
        time.sleep(1.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        tried = proxy.upstreams(at_least=sum(statuses.values()))
    answered = sum(statuses.values())
    assert statuses == {200: answered}, statuses
    assert answered > at_kill > 0, (at_kill, answered)
    assert any(t[-1] == doomed.address for t in tried), "the doomed replica served some"
    retried = [t for t in tried if len(t) > 1]
    assert all(t[-1] == survivor.address for t in retried)
    # Shared state: the quota counted in Redis, read through the survivor.
    with client(survivor.url) as api:
        usage = api.get("/api/v1/me/usage", headers=key).json()
    used = usage["quota"]["requests"]["used"]
    assert answered <= used <= answered + len(retried), (answered, used, len(retried))
    # Usage is counted as each request ends: the dead replica's requests in flight are not.
    assert usage["usage"]["requests"] <= used
