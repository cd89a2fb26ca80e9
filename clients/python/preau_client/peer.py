"""aiortc helpers for Python peers (SDK calls, bots, tests, load tests).

Needs the ``rtc`` extra (aiortc); the server never imports this module.

- :func:`confine_ice` limits aioice's host-address discovery to given
  addresses (tests: 127.0.0.1 only, which aioice skips by default, so that no
  test traffic leaves loopback);
- :class:`PatternTrack` is a cheap moving test pattern (no numpy);
- :class:`FrameCounter` consumes a received track and counts its frames;
- :func:`rtc_configuration` turns the server's ``ice_servers`` into aiortc's
  configuration, never falling back to aiortc's default public STUN server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import aioice.ice
import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer
from aiortc.mediastreams import MediaStreamError

VIDEO_CLOCK = 90_000


@contextlib.contextmanager
def confine_ice(addresses: Sequence[str]) -> Iterator[None]:
    """Within the block, ICE gathers host candidates on ``addresses`` only."""
    original = aioice.ice.get_host_addresses

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def rtc_configuration(ice_servers: Sequence[Mapping[str, Any]]) -> RTCConfiguration:
    """aiortc's configuration from the server's list (an empty list stays empty:
    aiortc would otherwise add a public STUN server)."""
    servers = []
    for entry in ice_servers:
        urls = entry["urls"]
        servers.append(RTCIceServer(urls=list(urls) if not isinstance(urls, str) else urls,
                                    username=entry.get("username"),
                                    credential=entry.get("credential")))
    return RTCConfiguration(iceServers=servers)


class PatternTrack(MediaStreamTrack):
    """A small moving test pattern: a bright bar sweeping a grey frame."""

    kind = "video"

    def __init__(self, width: int = 160, height: int = 120, fps: int = 15) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.fps = fps
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._count / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        bar = (self._count * 4) % self.width
        luma = bytearray([96]) * (self.width * self.height)
        for row in range(self.height):
            start = row * self.width + bar
            luma[start:start + min(8, self.width - bar)] = b"\xeb" * min(8, self.width - bar)
        frame.planes[0].update(bytes(luma))
        chroma = bytes([128]) * (self.width * self.height // 4)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = self._count * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class FrameCounter:
    """Reads a received track until it ends, counting frames (and their times)."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.kind = track.kind
        self.frames = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                await self.track.recv()
                now = time.monotonic()
                if self.first_at is None:
                    self.first_at = now
                self.last_at = now
                self.frames += 1
                self._changed.set()
        except MediaStreamError:
            return

    async def wait_for(self, frames: int, timeout: float = 20) -> int:
        async with asyncio.timeout(timeout):
            while self.frames < frames:
                self._changed.clear()
                await self._changed.wait()
        return self.frames

    def fps(self) -> float:
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return 0.0
        return (self.frames - 1) / (self.last_at - self.first_at)

    async def stop(self) -> None:
        self.task.cancel()
        # asyncio.wait, not ``await task`` under suppress(CancelledError): that
        # would also swallow a cancellation of the *caller*.
        await asyncio.wait([self.task])
