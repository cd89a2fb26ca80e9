"""aiortc peers for calls in SFU mode (Janus behind Préau), for tests, load tests and bots.

In SFU mode a participant has one PeerConnection to publish (it offers, the
SFU answers) and one per feed it receives (the SFU offers, it answers).
Préau relays both over ``/ws`` (ops ``sfu.publish``, ``sfu.subscribe``,
``sfu.answer``, ``sfu.trickle``, ``sfu.unpublish``; docs/protocol.md). aiortc
does not trickle: its candidates are in its SDP once gathering ends, so after
each description the peer sends one end-of-candidates.

Needs the ``rtc`` extra (aiortc).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from av import VideoFrame

VIDEO_CLOCK = 90000


class TestPattern(MediaStreamTrack):
    """A small moving test pattern: cheap to encode on a shared 2-core machine."""

    kind = "video"

    def __init__(self, width: int = 160, height: int = 120, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        shade = (self._count * 8) % 256
        for plane, value in zip(frame.planes, (shade, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = self._count * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


@dataclass
class Received:
    """Frames received per kind, with the arrival times (monotonic)."""

    times: dict[str, list[float]] = field(default_factory=lambda: {"audio": [], "video": []})

    def count(self, kind: str, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for t in self.times[kind] if since <= t < until)


class SfuPeer:
    """One aiortc PeerConnection to the SFU, either publishing or receiving."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.received = Received()
        self._readers: list[asyncio.Task[None]] = []
        self._arrived = asyncio.Event()  # set on every received frame

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        times = self.received.times[track.kind]
        with contextlib.suppress(Exception):  # MediaStreamError when the track ends
            while True:
                await track.recv()
                times.append(time.monotonic())
                self._arrived.set()

    async def offer(self, *, audio: bool = True, video: bool = True,
                    pattern: TestPattern | None = None) -> str:
        """Publishing: add tracks, return the complete offer (candidates included)."""
        if audio:
            self.pc.addTrack(AudioStreamTrack())
        if video:
            self.pc.addTrack(pattern or TestPattern())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def answer(self, offer_sdp: str) -> str:
        """Receiving: take the SFU's offer, return the complete answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def wait_connected(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise TimeoutError(f"peer connection {self.pc.connectionState}")
            await asyncio.sleep(0.05)

    async def wait_frames(self, count: int, kind: str = "video", timeout: float = 15.0) -> int:
        """Wait until ``count`` frames of ``kind`` arrived (or ``timeout``); how many did."""
        deadline = time.monotonic() + timeout
        times = self.received.times[kind]
        while len(times) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return len(times)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()


def confine_ice(addresses: list[str]) -> None:
    """Gather host candidates on ``addresses`` only (this process, all peers).

    aioice offers every interface's address; in tests media must stay inside
    the test's network namespace, and Janus there listens on one veth only.
    """
    import aioice.ice

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return list(addresses)

    aioice.ice.get_host_addresses = host_addresses


Request = Callable[..., Awaitable[dict[str, Any]]]


async def publish(request: Request, call: str, peer: str, *, audio: bool = True,
                  video: bool = True, pattern: TestPattern | None = None
                  ) -> tuple[SfuPeer, dict[str, Any]]:
    """Publish through Préau as ``peer`` (the id from ``call.join``);
    ``request`` is a ``LiveConnection.request``. Returns the peer and the reply."""
    sfu = SfuPeer()
    try:
        offer = await sfu.offer(audio=audio, video=video, pattern=pattern)
        reply = await request("sfu.publish", call=call, peer=peer, sdp=offer)
        await request("sfu.trickle", call=call, peer=peer, target="publish", candidate=None)
        await sfu.accept_answer(reply["sdp"])
    except BaseException:
        await sfu.close()
        raise
    return sfu, reply


async def subscribe(request: Request, call: str, peer: str, feed: str
                    ) -> tuple[SfuPeer, dict[str, Any]]:
    """Receive ``feed`` (a peer id) through Préau; returns the peer and the
    subscribe reply (``subscription``, ``kinds``, ``sdp``)."""
    reply = await request("sfu.subscribe", call=call, peer=peer, feed=feed)
    sfu = SfuPeer()
    try:
        answer = await sfu.answer(reply["sdp"])
        sub = reply["subscription"]
        await request("sfu.answer", call=call, peer=peer, subscription=sub, sdp=answer)
        await request("sfu.trickle", call=call, peer=peer, target=sub, candidate=None)
    except BaseException:
        await sfu.close()
        raise
    return sfu, reply
