"""How answers leave the server: what the app writes in one turn of the event loop leaves
in one write, so a small answer's head and body go together, and a worker killed while
answering has sent all of it or nothing (a proxy in front can retry nothing-at-all on
another replica: tests/cluster/test_replicas.py kills replicas under load)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from bawaba.api.protocol import OneWritePerTurn
from conftest import Served


class Recording(asyncio.Transport):
    """A transport that keeps what it is asked to send, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_the_writes_of_one_turn_leave_as_one_and_closing_sends_what_waits() -> None:
    async def scenario() -> list[list[bytes]]:
        sent = Recording()
        transport = OneWritePerTurn(sent)
        seen = []
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"ok")
        seen.append(list(sent.writes))  # nothing yet: the turn is not over
        await asyncio.sleep(0)
        seen.append(list(sent.writes))
        transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        transport.close()  # uvicorn's refusals write, then close at once
        seen.append(list(sent.writes))
        transport.write(b"late")
        await asyncio.sleep(0)
        seen.append(list(sent.writes))
        return seen

    before_turn_ends, after_turn, after_close, after_closed = asyncio.run(scenario())
    assert before_turn_ends == []
    assert after_turn == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    assert after_close == [*after_turn, b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert after_closed == after_close, "nothing is written to a closed transport"


@pytest.mark.parametrize(
    "path", ["/api/v1/datasets/epay-annual/records?limit=3", "/healthz", "/api/v1/nothing"]
)
def test_answers_on_one_connection_arrive_whole_and_in_turn(served: Served, path: str) -> None:
    url = httpx.URL(served.url)
    assert url.port is not None
    with socket.create_connection((url.host, url.port), timeout=10) as connection:
        reader = connection.makefile("rb")
        for _ in range(20):
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 "), status
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = reader.read(int(headers["content-length"]))
            assert len(body) == int(headers["content-length"]) > 0
            assert body.startswith(b"{"), body[:80]
