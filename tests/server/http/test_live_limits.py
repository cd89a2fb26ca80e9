"""HTTP limits on a real server: bodies cut while they stream, deadlines on
idle and unfinished requests, the health check's details for operators only,
and the security headers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import psutil
import pytest

from tests.multinode.cluster import wait_until
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

OPS_TOKEN = "ops-secret-for-the-test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("limits"), {
        "PREAU_HTTP_HEAD_TIMEOUT_S": "0.5", "PREAU_HTTP_BODY_TIMEOUT_S": "1",
        "PREAU_OPS_TOKEN": OPS_TOKEN}).start()
    try:
        yield live
    finally:
        live.stop()


def rss(server: LiveServer) -> int:
    assert server.process is not None
    return int(psutil.Process(server.process.pid).memory_info().rss)


async def test_a_chunked_body_is_cut_at_the_limit_not_read_whole(server: LiveServer) -> None:
    before = rss(server)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(512):  # 32 MiB if it were all read
            yield b"x" * 65536

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        try:
            response = await http.post("/api/auth/login", content=chunks(),
                                       headers={"content-type": "application/json"})
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "too_large"
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server may close before the client has written everything
        assert rss(server) - before < 16 * 1024 * 1024
        # A declared length over the limit is refused before any byte is read.
        response = await http.post("/api/auth/login", content=b"x" * 20_000)
        assert response.status_code == 413
        # The server is fine.
        assert (await http.get("/api/health")).status_code == 200


def _open(server: LiveServer, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    if first:
        sock.sendall(first)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    # A 4xx answer may come first; what matters is that the server hangs up.
    return data == b"" or (data.startswith(b"HTTP/1.1") and _closed_by_server(sock))


async def test_idle_and_unfinished_requests_are_closed(server: LiveServer) -> None:
    sockets = (
        [_open(server, b"") for _ in range(40)]  # never a byte
        + [_open(server, b"GET /api/health HTTP/1.1\r\nHost: x\r\n") for _ in range(20)]
        + [_open(server, b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 100\r\n\r\n{\"lo") for _ in range(20)]
    )
    try:
        await wait_until(lambda: all(_closed_by_server(s) for s in sockets), timeout=20,
                         interval=0.2)
    finally:
        for sock in sockets:
            sock.close()
    # A well-behaved keep-alive client is served as before.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        for _ in range(3):
            assert (await http.get("/api/health")).status_code == 200
            await asyncio.sleep(0.1)


async def _read_all(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    out = b""
    while chunk := await loop.sock_recv(sock, 65536):
        out += chunk
    return out


async def test_a_slow_body_that_keeps_coming_is_read_and_a_stalled_one_told_408(
    server: LiveServer,
) -> None:
    """The body timeout (1 s here) is a gap between bytes, not a deadline on
    the whole body: a school's shared uplink sends a large file for minutes.
    A body that stops is answered 408 with a JSON error before the close
    (before: a bare close at the deadline, even while data still came)."""
    loop = asyncio.get_running_loop()
    body = b'{"login": "x", "password": "' + b"y" * 3000 + b'"}'
    slow = _open(server, b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    stalled = _open(server, b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 100\r\n\r\n{\"lo")
    try:
        slow.setblocking(False)
        for start in range(0, len(body), 300):  # 300 bytes every 0.3 s: 3 s in all
            await loop.sock_sendall(slow, body[start:start + 300])
            await asyncio.sleep(0.3)
        answer, told = await asyncio.wait_for(
            asyncio.gather(_read_all(slow), _read_all(stalled)), 20)
    finally:
        slow.close()
        stalled.close()
    head = answer.split(b"\r\n", 1)[0]
    assert not head.startswith(b"HTTP/1.1 408"), answer[:200]  # read whole, then answered
    assert head.startswith(b"HTTP/1.1 4"), answer[:200]  # (an unknown login)
    assert told.startswith(b"HTTP/1.1 408 Request Timeout"), told[:200]
    assert told.endswith(b'"message":"the request body stopped arriving"}}')


async def test_a_body_trickling_below_the_minimum_rate_is_cut(server: LiveServer) -> None:
    """Past its first timeout, a body must average 1 KiB/s since its head:
    a byte now and then would otherwise hold the connection for ever."""
    loop = asyncio.get_running_loop()
    sock = _open(server, b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 1000\r\n\r\n")
    sock.setblocking(False)
    started = loop.time()
    try:
        while loop.time() - started < 15:
            try:
                await loop.sock_sendall(sock, b"x")
            except OSError:
                break
            if _closed_by_server(sock):
                break
            await asyncio.sleep(0.5)
        assert loop.time() - started < 5, "a trickle held the connection"
    finally:
        sock.close()


def test_health_details_are_for_operators(server: LiveServer) -> None:
    # Seen from elsewhere (the test is a trusted proxy for itself: loopback).
    outside = {"x-forwarded-for": "203.0.113.9"}
    public = httpx.get(server.base_url + "/api/health", headers=outside, timeout=5).json()
    assert public == {"status": "ok", "store": {"ok": True}, "broker": {"ok": True}}
    full = httpx.get(server.base_url + "/api/health", timeout=5,
                     headers={**outside, "authorization": f"Bearer {OPS_TOKEN}"}).json()
    assert full["node"].startswith("test-")
    assert "version" in full
    wrong = httpx.get(server.base_url + "/api/health", timeout=5,
                      headers={**outside, "authorization": "Bearer nope"}).json()
    assert wrong == public
    # On the node's own machine, no token needed.
    assert "node" in httpx.get(server.base_url + "/api/health", timeout=5).json()


def test_security_headers_include_a_permissions_policy(server: LiveServer) -> None:
    response = httpx.get(server.base_url + "/api/health", timeout=5)
    policy = response.headers["permissions-policy"]
    assert "camera=(self)" in policy
    assert "geolocation=()" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
