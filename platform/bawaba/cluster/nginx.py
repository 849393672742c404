"""nginx in front of API replicas: its configuration, rendered from one template
(``nginx.conf.j2`` beside this module), and a launcher that runs it in the foreground.

The demo and the tests render the same template, so the retries, the forwarded headers and
the keep-alive the tests show are those an installation copying it gets. nginx runs as a
non-daemon master (``-g 'daemon off;'``) whose pid file, logs and temporary files all live in
its own folder, so it needs no system paths and stops with its process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2

from bawaba.cluster.processes import free_port, listening, running
from bawaba.errors import ConfigError

NGINX = Path("/usr/sbin/nginx")
TEMPLATE = Path(__file__).with_name("nginx.conf.j2")
INSTALL_HINT = "install Debian's package: `make nginx` or `apt-get install -y nginx`"
_UPSTREAM = re.compile(r"upstream=(?P<addresses>[^ ]+(?:, [^ ]+)*) upstream_status=")


def render_config(folder: Path, listen: str, replicas: Sequence[str], workers: int = 1) -> str:
    """The configuration of nginx listening on ``listen`` (``127.0.0.1:8000``) in front of
    ``replicas`` (``host:port`` each), keeping its files under ``folder``."""
    if not replicas:
        raise ConfigError("nginx needs at least one replica", hint="give host:port of each")
    template = jinja2.Template(TEMPLATE.read_text(encoding="utf-8"), autoescape=False)
    rendered: str = template.render(
        folder=folder.resolve(), listen=listen, replicas=list(replicas), workers=workers
    )
    return rendered


def require_nginx(binary: Path = NGINX) -> Path:
    if not binary.exists():
        raise ConfigError(f"nginx is not installed at {binary}", hint=INSTALL_HINT)
    return binary


@dataclass(frozen=True)
class Proxy:
    """A running nginx: its URL and its folder (configuration and logs)."""

    url: str
    folder: Path

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def upstreams(self, at_least: int = 0, timeout_s: float = 5.0) -> list[list[str]]:
        """For each request logged so far, the replicas nginx sent it to, in order (more
        than one when a replica failed and the request was retried on another). nginx
        logs a request after its answer is sent: ``at_least`` waits for that many."""
        deadline = time.monotonic() + timeout_s
        while True:
            tried = []
            if self.access_log.exists():
                for line in self.access_log.read_text(errors="replace").splitlines():
                    found = _UPSTREAM.search(line)
                    if found is not None:
                        tried.append(found.group("addresses").split(", "))
            if len(tried) >= at_least or time.monotonic() > deadline:
                return tried
            time.sleep(0.02)


@contextmanager
def nginx_proxy(
    folder: Path,
    replicas: Sequence[str],
    port: int | None = None,
    binary: Path = NGINX,
    workers: int = 1,
) -> Iterator[Proxy]:
    """nginx on 127.0.0.1:``port`` (a free one unless given) in front of ``replicas``,
    until the block ends."""
    require_nginx(binary)
    port = port or free_port()
    folder = folder.resolve()
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / temp).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(render_config(folder, f"127.0.0.1:{port}", replicas, workers))
    command = [str(binary), "-p", str(folder), "-c", str(config), "-g", "daemon off;"]
    with running(command, "nginx", listening(port), folder / "nginx.out"):
        yield Proxy(f"http://127.0.0.1:{port}", folder)
