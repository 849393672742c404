"""``bawaba demo --cluster`` (``make demo-cluster``): it comes up with S3, PostgreSQL and two
replicas behind nginx, answers through nginx from the release it published to object
storage, and stops everything it started on SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from postgres import ensure_postgresql
from services import ensure_debian_package, free_port

from bawaba.cluster.nginx import NGINX
from conftest import ROOT, env_for, random_key

pytestmark = pytest.mark.xdist_group("replicas")

BAWABA = str(ROOT / ".venv" / "bin" / "bawaba")
READY = re.compile(r"cluster on (http://127\.0\.0\.1:\d+) +\(nginx -> replicas ([^;]+);")


def _closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) != 0


def test_the_demo_cluster_answers_through_nginx_and_stops_everything(tmp_path: Path) -> None:
    ensure_debian_package(NGINX, "nginx")
    ensure_postgresql()
    from bawaba.settings import Settings

    settings = Settings(
        var_dir=tmp_path / "var",
        datasets_dir=tmp_path / "no-datasets",
        pipelines_dir=ROOT / "pipelines",
        catalog_path=ROOT / "catalog.yaml",
        pseudonym_key=random_key(),  # type: ignore[arg-type]
    )
    port = free_port()
    env = env_for(settings) | {
        "BAWABA_API_PORT": str(port),
        "BAWABA_PLANS_PATH": str(ROOT / "api_keys" / "plans.yaml"),
    }
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(
            [BAWABA, "demo", "--cluster", "--scale", "0.02"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while (ready := READY.search(log.read_text())) is None:
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        url, replicas = ready.group(1), ready.group(2).split(", ")
        assert url == f"http://127.0.0.1:{port}"
        assert len(replicas) == 2
        answers = [
            httpx.get(f"{url}/api/v1/datasets/epay-annual/records?limit=2", timeout=30)
            for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].headers["Server"] == "nginx"
        assert answers[0].json()["next"].startswith(url)
        assert answers[0].json() == answers[1].json()
        access_log = settings.var_dir / "cluster" / "nginx" / "access.log"
        deadline = time.monotonic() + 5  # nginx logs a request after its answer
        while len(access_log.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        logged = access_log.read_text()
        for each in replicas:  # one answer from each replica
            assert f"upstream={each.removeprefix('http://')} " in logged
        assert not settings.datasets_dir.exists(), "the release is on object storage"
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    assert demo.returncode == 0, log.read_text()
    assert "stopping the cluster" in log.read_text()
    assert all(_closed(each) for each in [url, *replicas])
