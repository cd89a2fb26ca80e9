"""A minimal WebSocket client on a bare asyncio protocol, for the load processes.

Why not the ``websockets`` client: on a 2-core machine every microsecond the
load generator spends is taken from the server it measures. A full client
(an assembler, futures and a reader task per connection) costs tens of
microseconds per received frame; this one parses frames straight out of
``data_received`` and hands each text payload to a callback, a few
microseconds per frame. It speaks just what the benchmark needs (RFC 6455):

- the opening handshake, with the ``Sec-WebSocket-Accept`` check;
- unmasked frames from the server, fragmented or not, text or binary;
- masked frames to the server, as the RFC requires of clients;
- pings answered with pongs (the server pings every 20 s), closes echoed.

No extensions (the server runs without permessage-deflate), no TLS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import cast

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HEADER_BYTES = 16_384


class HandshakeError(Exception):
    """The server did not switch protocols; ``status`` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status or 'no status'}: {detail}")
        self.status = status


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (one big-integer XOR, no loop)."""
    n = len(payload)
    if n == 0:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keystream, "little")).to_bytes(
        n, "little"
    )


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + mask(payload, key)


class WsClient(asyncio.Protocol):
    """One client connection. Subclass and override :meth:`on_message`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._handshaking = True
        self._key = ""
        self._fragments: list[bytes] = []
        self._fragment_op = 0
        self._close_sent = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.close_code: int | None = None
        self.error: str | None = None  # why we dropped the connection, if we did

    # -- to override ---------------------------------------------------------
    def on_message(self, payload: bytes, binary: bool) -> None:
        """A complete text (UTF-8 bytes, not decoded) or binary message."""

    # -- opening -------------------------------------------------------------
    def start_handshake(self, host: str, port: int, path: str, headers: dict[str, str]) -> None:
        assert self.transport is not None
        self._key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def _finish_handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                self._fail(HandshakeError(0, "response headers too long"))
            return False
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        parts = head[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            self._fail(HandshakeError(status, head[0]))
            return False
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + _GUID).digest()).decode()
        if fields.get("sec-websocket-accept") != expected:
            self._fail(HandshakeError(status, "bad Sec-WebSocket-Accept"))
            return False
        self._handshaking = False
        if not self.opened.done():
            self.opened.set_result(None)
        return True

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # -- frames in -------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._handshaking and not self._finish_handshake():
            return
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1]
            if n & 0x80:
                self._protocol_error("masked frame from the server")
                return
            hdr = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            end = pos + hdr + n
            if end > size:
                break
            payload = bytes(buf[pos + hdr : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode == OP_TEXT and b0 & 0x80:  # the hot path: a whole text frame
                self.on_message(payload, False)
            else:
                self._control_or_fragment(b0, opcode, payload)
            if self.close_code is not None:
                break
        del buf[:pos]

    def _control_or_fragment(self, b0: int, opcode: int, payload: bytes) -> None:
        fin = bool(b0 & 0x80)
        if opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_code = code
            if not self._close_sent:  # the server started the close: echo it
                self._close_sent = True
                self._write(OP_CLOSE, payload[:2])
            assert self.transport is not None
            self.transport.close()
        elif opcode in (OP_TEXT, OP_BINARY):
            self._fragment_op = opcode
            self._fragments = [payload]
        elif opcode == OP_CONT and self._fragments:
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = []
                self.on_message(whole, self._fragment_op == OP_BINARY)
        else:
            self._protocol_error(f"unexpected opcode {opcode}")

    def _protocol_error(self, reason: str) -> None:
        self.error = reason
        self.close_code = 1002
        if self.transport is not None:
            self.transport.abort()

    # -- frames out ------------------------------------------------------------
    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(encode_frame(opcode, payload))

    def send_text(self, payload: bytes) -> None:
        """Send UTF-8 ``payload`` as one text frame (dropped if the socket is closing)."""
        self._write(OP_TEXT, payload)

    def close(self, code: int = 1000) -> None:
        """Start a clean close; :attr:`closed` resolves when the server has closed TCP."""
        if self.transport is None or self.transport.is_closing():
            return
        if self._handshaking:
            self.transport.close()
            return
        if not self._close_sent:
            self._close_sent = True
            self._write(OP_CLOSE, code.to_bytes(2, "big"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeError(0, "connection closed"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)


async def connect(
    factory: Callable[[], WsClient],
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    timeout: float = 30.0,
) -> WsClient:
    """Open a connection and complete the handshake (raises ``HandshakeError``, ``OSError``)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, client = await loop.create_connection(factory, host, port)
        client.start_handshake(host, port, path, headers)
        try:
            await client.opened
        except BaseException:
            if client.transport is not None:
                client.transport.abort()
            raise
    return client


async def close_all(clients: Sequence[WsClient], timeout: float = 10) -> None:
    """Close cleanly and wait until TCP is closed (a transport still closing
    when its loop ends is reported unclosed later, in some other code's
    time); abort what does not close within ``timeout``."""
    for client in clients:
        client.close()
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(c.closed for c in clients))
    except TimeoutError:
        for client in clients:
            if client.transport is not None:
                client.transport.abort()
        await asyncio.sleep(0)  # the aborts' connection_lost
