"""``bawaba demo --cluster``: the demo as an installation past one machine would run it, on
this one: S3 object storage (moto's server), PostgreSQL (keys), Redis (rate limits, quotas
and usage), two ``bawaba serve`` replicas and nginx in front of them, all on loopback.

Everything it starts is thrown away when it stops: the object store lives in moto's memory,
Redis keeps nothing on disk, PostgreSQL lives in a temporary folder, and ``var/cluster/``
(the replicas' working folders, nginx's configuration and logs) is emptied at the next
start, since a fresh object store's ``v1`` is not the last run's ``v1`` that a replica may
have cached.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pydantic import SecretStr

from bawaba.cluster.nginx import Proxy, nginx_proxy, require_nginx
from bawaba.cluster.postgres import PostgresServer, postgres_server, require_bin
from bawaba.cluster.processes import environment
from bawaba.cluster.redis import redis_server, require_redis
from bawaba.cluster.replicas import Replica, Shared, replica
from bawaba.cluster.s3 import S3Endpoint, moto_s3
from bawaba.errors import ConfigError
from bawaba.settings import Settings

BUCKET = "bawaba"
PREFIX = "releases"
REPLICAS = 2


@dataclass
class Services:
    """The shared services of the demo cluster, running."""

    folder: Path
    s3: S3Endpoint
    postgres: PostgresServer
    shared: Shared

    def settings(self, settings: Settings) -> Settings:
        """``settings`` pointed at these services: what this process publishes with."""
        return settings.model_copy(
            update={
                "datasets_url": self.shared.datasets_url,
                "key_store_url": SecretStr(self.shared.key_store_url),
                "key_store_secret": SecretStr(self.shared.key_store_secret),
            }
        )


@contextmanager
def services(settings: Settings) -> Iterator[Services]:
    """S3, PostgreSQL and Redis on loopback until the block ends. This process's AWS variables
    point at the S3 server meanwhile: it publishes there, as the replicas read there."""
    require_nginx()  # before anything starts: the last server needed is the first checked
    require_bin()
    require_redis()
    folder = (settings.var_dir / "cluster").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ExitStack() as stack:
        s3 = stack.enter_context(moto_s3(folder))
        s3.create_bucket(BUCKET)
        postgres = stack.enter_context(postgres_server())
        redis = stack.enter_context(redis_server(folder))
        shared = Shared(
            datasets_url=f"s3://{BUCKET}/{PREFIX}",
            key_store_url=postgres.new_database("bawaba"),
            key_store_secret=secrets.token_urlsafe(32),
            rate_limit_storage_uri=redis.url(),
            extra=s3.env(),
        )
        with environment(s3.env()):
            yield Services(folder, s3, postgres, shared)


@dataclass
class Cluster:
    proxy: Proxy
    replicas: list[Replica]


@contextmanager
def front(running: Services, port: int, replicas: int = REPLICAS) -> Iterator[Cluster]:
    """``replicas`` API servers, each with its own working folder under var/cluster/, and
    nginx in front of them on 127.0.0.1:``port``, until the block ends."""
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                replica(
                    running.shared.env(os.environ, running.folder / f"replica-{n}"),
                    running.folder,
                )
            )
            for n in range(replicas)
        ]
        proxy = stack.enter_context(
            nginx_proxy(running.folder / "nginx", [r.address for r in started], port)
        )
        yield Cluster(proxy, started)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted(cluster: Cluster, say: Callable[[str], None], ready: str) -> None:
    """Say ``ready``, then wait for Ctrl+C or SIGTERM (both stop the cluster in order: a
    demo started in the background ignores SIGINT); a replica that dies first is an error.
    The signals are caught before ``ready`` is said, so one sent on reading it is caught."""
    signal.signal(signal.SIGTERM, _interrupted)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        say(ready)
        while True:
            for each in cluster.replicas:
                if each.process.poll() is not None:
                    raise ConfigError(
                        f"the replica on {each.address} exited with {each.process.returncode}",
                        hint=f"its log: {each.log}",
                    )
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping the cluster")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
