"""Antivirus scanning: the ``Scanner`` interface and clamd's INSTREAM client.

``Scanner.scan(path)`` answers one of three results and never raises for a
scanner problem: :class:`Clean`, :class:`Infected` (with the signature's
name) or :class:`Unavailable` (with why). *Unavailable is never clean*: the
caller holds the file as pending and scans it again later (inspect.py,
``rescan``).

:class:`ClamdScanner` speaks clamd's own protocol (clamd(8), "INSTREAM"):
``zINSTREAM\\0``, then the file in chunks each prefixed by its length (4 bytes,
network order), then a zero length; clamd answers ``stream: OK``,
``stream: <signature> FOUND`` or ``... ERROR``. The file is streamed from disk
(never whole in memory) over a unix socket (``unix:/run/clamav/clamd.ctl``)
or TCP (``tcp:127.0.0.1:3310``). Why our own client rather than the
``clamd``/``pyclamd`` packages: docs/decisions.md, "Attachments: clamd client".
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class Clean:
    pass


@dataclass(frozen=True)
class Infected:
    signature: str


@dataclass(frozen=True)
class Unavailable:
    reason: str


ScanResult = Clean | Infected | Unavailable


class Scanner(Protocol):
    async def scan(self, path: Path) -> ScanResult:
        """Scan the file at ``path``. Never raises for the scanner's own
        failures (unreachable, timeout, refused): answers ``Unavailable``."""
        ...


@dataclass(frozen=True)
class ClamdAddress:
    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, address: str) -> ClamdAddress:
        """``unix:/path/to/clamd.ctl`` or ``tcp:host:port`` (clear error otherwise)."""
        scheme, _, rest = address.partition(":")
        if scheme == "unix" and rest.startswith("/"):
            return cls(unix_path=rest)
        if scheme == "tcp":
            host, _, port = rest.rpartition(":")
            host = host.strip("[]")
            if host and port.isdigit() and 0 < int(port) < 65536:
                return cls(host=host, port=int(port))
        raise ValueError(
            f"clamd address {address!r}: expected 'unix:/path/to/clamd.ctl' or 'tcp:host:port'")

    def __str__(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"tcp:{self.host}:{self.port}"


class ClamdScanner:
    """clamd over a unix socket or TCP; one connection per scan.

    ``timeout`` bounds a whole scan (connect, send, verdict); clamd's own
    ``StreamMaxLength`` must be at least the largest attachment, or such files
    stay pending (docs/operations.md, "Antivirus (ClamAV)").
    """

    def __init__(self, address: str, *, timeout: float = 120.0,
                 connect_timeout: float = 5.0, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.address = ClamdAddress.parse(address)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.chunk_bytes = chunk_bytes

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.address.unix_path is not None:
            return await asyncio.wait_for(
                asyncio.open_unix_connection(self.address.unix_path), self.connect_timeout)
        return await asyncio.wait_for(
            asyncio.open_connection(self.address.host, self.address.port), self.connect_timeout)

    async def ping(self) -> bool:
        """Whether clamd answers ``PONG`` (health checks)."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await self._connect()
                try:
                    writer.write(b"zPING\0")
                    await writer.drain()
                    return await reader.readuntil(b"\0") == b"PONG\0"
                finally:
                    writer.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            return False

    async def scan(self, path: Path) -> ScanResult:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._scan(path)
        except TimeoutError:
            log.warning("clamd at %s: no verdict within %.0f s", self.address, self.timeout)
            return Unavailable(f"no verdict within {self.timeout:.0f} s")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            log.warning("clamd at %s unavailable: %s", self.address, exc)
            return Unavailable(f"clamd unreachable: {exc}")

    async def _scan(self, path: Path) -> ScanResult:
        reader, writer = await self._connect()
        try:
            writer.write(b"zINSTREAM\0")
            with path.open("rb") as f:
                while True:
                    # Disk reads off the event loop too.
                    chunk = await asyncio.to_thread(f.read, self.chunk_bytes)
                    if not chunk:
                        break
                    writer.write(struct.pack(">I", len(chunk)) + chunk)
                    await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
            reply = await reader.readuntil(b"\0")
        except ConnectionResetError:
            # clamd closes the stream when it goes past StreamMaxLength, and
            # says why first: read it if it is there.
            reply = await _pending_reply(reader)
        finally:
            writer.close()
        return parse_reply(reply)


async def _pending_reply(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\0"), 1.0)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return b"connection reset by clamd ERROR\0"


def parse_reply(reply: bytes) -> ScanResult:
    """clamd's answer to INSTREAM: ``stream: OK``, ``stream: <name> FOUND``, or an error."""
    text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    verdict = text.removeprefix("stream:").strip()
    if verdict == "OK":
        return Clean()
    if verdict.endswith(" FOUND"):
        return Infected(verdict.removesuffix(" FOUND").strip() or "unknown")
    log.warning("clamd could not scan a file: %s", text)
    return Unavailable(f"clamd: {text}")
