"""What a client sends is bounded (URL 414, headers 431, body 413, in the one error shape,
refused as soon as it is over), and no client picks its own address unless a proxy is
trusted by name."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bawaba.catalog.load import load_catalog
from conftest import ROOT, Served, api_settings, env_for, serve_release
from releases import write_release

RECORDS = "/api/v1/datasets/epay-annual/records"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server with the default request limits."""
    settings = api_settings(tmp_path_factory.mktemp("limits"))
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["epay-annual"])
    with serve_release(settings) as served:
        yield served


def _address(served: Served) -> tuple[str, int]:
    url = httpx.URL(served.url)
    assert url.port is not None
    return url.host, url.port


def _assert_problem(response: httpx.Response, status: int, code: str, *mentions: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "hint"}
    assert error["code"] == code
    assert error["hint"]
    for word in mentions:
        assert word in error["message"], (word, error)


def _raw_answer(sock: socket.socket) -> httpx.Response:
    """The HTTP answer on ``sock``, read to its end (the server closes after a refusal)."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def _send_until_refused(sock: socket.socket, head: bytes, chunk: bytes, most: int) -> int:
    """Sends ``head`` then ``chunk`` after chunk, up to ``most`` bytes, until the server
    stops reading; returns how many bytes went out."""
    sock.sendall(head)
    sent = len(head)
    sock.settimeout(5)
    try:
        while sent < most:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def test_a_long_url_is_a_414(server: Served) -> None:
    with server.client() as client:
        answer = client.get(RECORDS, params={"department": "D" * 20_000})
        _assert_problem(answer, 414, "uri-too-long", "16384")
        # Under the limit, the app itself reads the request (and refuses the value).
        shorter = client.get(RECORDS, params={"department": "D" * 12_000})
        _assert_problem(shorter, 400, "bad-parameter", "12000 characters")


def test_large_headers_are_a_431(server: Served) -> None:
    with server.client() as client:
        answer = client.get(RECORDS, headers={"X-Filler": "x" * 40_000})
        _assert_problem(answer, 431, "headers-too-large", "32768")
        assert client.get(RECORDS, headers={"X-Filler": "x" * 20_000}).status_code == 200


def test_a_40_mb_header_is_cut_short_and_stalls_no_one(server: Served) -> None:
    """The server stops reading the head once it is over its limit: the sender cannot
    push 40 MB, and health checks on the same worker answer as usual meanwhile."""
    delays: list[float] = []
    done = threading.Event()

    def check_health() -> None:
        with server.client() as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                delays.append(time.perf_counter() - started)

    checker = threading.Thread(target=check_health)
    checker.start()
    try:
        while len(delays) < 3:
            time.sleep(0.01)
        with socket.create_connection(_address(server)) as sock:
            head = f"GET {RECORDS} HTTP/1.1\r\nHost: x\r\nX-Filler: ".encode()
            sent = _send_until_refused(sock, head, b"x" * 65536, 40 * MB)
            answer = _raw_answer(sock)
        checked = len(delays)
        while len(delays) < checked + 3:
            time.sleep(0.01)
    finally:
        done.set()
        checker.join()
    _assert_problem(answer, 431, "headers-too-large")
    assert sent < 16 * MB, f"{sent / MB:.1f} MB read before the refusal"
    assert max(delays) < 0.5, f"a health check waited {max(delays):.2f} s"


def test_a_200_mb_body_is_refused_before_it_is_read(server: Served) -> None:
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 200000000\r\n\r\n"
        )
        started = time.perf_counter()
        answer = _raw_answer(sock)  # not one byte of the body was sent
    _assert_problem(answer, 413, "body-too-large", "1048576")
    assert time.perf_counter() - started < 5


def test_a_streamed_body_is_refused_once_over_the_limit(server: Served) -> None:
    chunk = b"a" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection(_address(server)) as sock:
        head = (
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = _send_until_refused(sock, head, framed, 200 * MB)
        answer = _raw_answer(sock)
    _assert_problem(answer, 413, "body-too-large")
    assert sent < 32 * MB, f"{sent / MB:.1f} MB read before the refusal"


def test_the_ckan_api_refuses_a_large_body_in_its_envelope(server: Served) -> None:
    with server.client() as client:
        answer = client.post(
            "/api/3/action/datastore_search",
            content=b'{"resource_id": "epay-annual", "q": "' + b"a" * (2 * MB) + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert "1048576" in answer.json()["error"]["message"]


# --- whose address counts -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_with_new_forwarded_for(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [
            client.get(RECORDS, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(count)
        ]


def test_bawaba_serve_ignores_x_forwarded_for_by_default(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, open_rate_limit="5/minute")
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["epay-annual"])
    port = _free_port()
    env = env_for(settings) | {
        "BAWABA_OPEN_RATE_LIMIT": "5/minute",
        "BAWABA_KEY_STORE_PATH": str(settings.key_store_path),
        "BAWABA_PLANS_PATH": str(settings.plans_path),
    }
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "bawaba"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "bawaba serve exited"
            assert time.monotonic() < deadline, "bawaba serve did not start"
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answers = _answers_with_new_forwarded_for(url, 6)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert answers == [200] * 5 + [429], "a new X-Forwarded-For must not be a new caller"


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, open_rate_limit="5/minute", trusted_proxies="127.0.0.1")
    write_release(settings.datasets_dir, load_catalog(settings.catalog_path), only=["epay-annual"])
    with serve_release(settings) as served:
        assert _answers_with_new_forwarded_for(served.url, 6) == [200] * 6
        with served.client(headers={"X-Forwarded-For": "198.51.100.7"}) as client:
            same = [client.get(RECORDS).status_code for _ in range(6)]
    assert same == [200] * 5 + [429], "the client the proxy names is counted"


def test_a_trusted_proxy_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        api_settings(Path(), trusted_proxies="127.0.0.1,nginx")
