"""A load balancer in front of a cluster's nodes, as an operator runs one
(docs/operations.md, "Rolling upgrades"): one loopback address; each new TCP
connection goes to the next node, in turn, whose ``/api/health/ready``
answers 200 — so a draining node (readiness 503) gets no new sockets and a
stopped one none at all. Bytes are copied both ways unchanged (HTTP,
WebSocket upgrades and frames), so the clients behind it (the SDK, a stock
y-websocket client, Chromium) see one server that stays up while its nodes
come and go. :meth:`Balancer.black_hole` cuts off connections without
closing them, as a middlebox that lost their flow.

It runs its own event loop in a thread, so that both asyncio tests and the
synchronous Playwright tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future


class Balancer:
    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.routed: list[int] = []  # the node port each accepted connection went to
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="balancer",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._paths: list[Path] = []  # of the connections open now, in order

    def start(self) -> Balancer:
        self._thread.start()
        self._call(self._listen()).result(10)
        return self

    def stop(self) -> None:
        self._call(self._close()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def path_of(self, client_port: int) -> Path:
        """The open connection from that client port (its socket's own port)."""
        return next(p for p in list(self._paths) if p.client_port == client_port)

    def paths_to(self, path: bytes) -> list[Path]:
        """The open connections whose first request was for ``path`` (b"/ws",
        whatever its query string)."""
        return [p for p in list(self._paths) if p.target == path]

    def black_hole(self, paths: Sequence[Path], *, to_node: bool = True,
                   to_client: bool = True) -> None:
        """From now on, drop the bytes of ``paths`` (one way or both) while
        keeping them open, as a middlebox that lost their flow does: neither
        end hears a close."""
        for path in paths:
            path.to_node_open = path.to_node_open and not to_node
            path.to_client_open = path.to_client_open and not to_client

    def _call(self, coro: object) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _pick(self) -> int | None:
        start = next(self._turn)
        for i in range(len(self.ports)):
            port = self.ports[(start + i) % len(self.ports)]
            if await _ready(port):
                return port
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            port = await self._pick()
            if port is None:  # no node ready: as a balancer with an empty pool
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                             b"connection: close\r\n\r\n")
                await writer.drain()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            self.routed.append(port)
            path = Path(writer.get_extra_info("peername")[1])
            self._paths.append(path)
            try:
                await asyncio.gather(_copy(reader, up_writer, path, to_node=True),
                                     _copy(up_reader, writer, path, to_node=False))
            finally:
                self._paths.remove(path)
                await _shut(up_writer)
        except asyncio.CancelledError:
            pass
        finally:
            await _shut(writer)
            self._pipes.discard(task)


async def _ready(port: int) -> bool:
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET /api/health/ready HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n")
                await writer.drain()
                status = await reader.readline()
            finally:
                await _shut(writer)
    except (OSError, TimeoutError):
        return False
    return status.split(b" ")[1:2] == [b"200"]


class Path:
    """One connection's two directions: bytes pass while open."""

    def __init__(self, client_port: int) -> None:
        self.client_port = client_port
        self.request = b""  # the first line the client sent ("GET /ws HTTP/1.1")
        self.to_node_open = True
        self.to_client_open = True

    @property
    def target(self) -> bytes:
        """The path of that first request, without its query string."""
        parts = self.request.split(b" ")
        return parts[1].split(b"?")[0] if len(parts) > 1 else b""


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: Path, *,
                to_node: bool) -> None:
    try:
        while data := await reader.read(65536):
            if to_node and not path.request:
                path.request = data.split(b"\r\n", 1)[0]
            if not (path.to_node_open if to_node else path.to_client_open):
                continue  # black-holed: read and dropped
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        # One side ended: end the other, so both halves of the pipe finish.
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


async def _shut(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ConnectionError):
        await writer.wait_closed()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def balancing(ports: Sequence[int]) -> Iterator[Balancer]:
    balancer = Balancer(ports).start()
    try:
        yield balancer
    finally:
        balancer.stop()
