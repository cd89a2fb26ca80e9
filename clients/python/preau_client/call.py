"""Join a Préau video call with aiortc over the SDK's ``/ws`` connection.

    live = await client.connect()
    created = await live.request("call.create", room=room_id)
    call = CallPeer(live, created["call"], video=PatternTrack())
    await call.join()
    counter = await call.counter_from(other_peer_id)    # frames received
    await counter.wait_for(30)

Needs the ``rtc`` extra (aiortc). Mesh signalling only (docs/video.md): the
peer that arrives offers to those already there; after a breakout move the
impolite side of each new pair offers. Perfect-negotiation roles come from
the server (``polite``); aiortc cannot roll back a local offer, so the polite
side of a glare drops its offer and answers (it renegotiates afterwards if it
must). aiortc puts its candidates in the SDP (no trickle); candidates
trickled by browsers are added as they come.

Every call event but signalling lands in :attr:`CallPeer.events` (after the
peer acted on it: a ``call.peer_left`` arrives once the connection closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.sdp import candidate_from_sdp

from preau_client import LiveConnection, PreauError
from preau_client.peer import FrameCounter, rtc_configuration

log = logging.getLogger(__name__)

__all__ = ["CallPeer", "RemotePeer"]

CLOSE_TIMEOUT_S = 3.0
_STOP = "stop"  # not an event name the server sends (they start with call.)


@dataclass
class RemotePeer:
    """Another peer in the call, and our connection to it."""

    id: str
    info: dict[str, Any]
    polite: bool
    pc: RTCPeerConnection | None = None
    counters: dict[str, FrameCounter] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    making_offer: bool = False

    @property
    def role(self) -> str:
        return str(self.info.get("role", ""))


class CallPeer:
    """One seat in one call: joins, negotiates with every peer, counts frames.

    ``video`` / ``audio``: tracks to send (shared between peer connections
    through a relay), or ``media_file`` for a file played by aiortc.
    ``send_video_to(peer_info)`` decides per peer whether to offer our video
    (default: to everyone); the server has the last word either way.
    ``data_channel``: the offerer opens a data channel (no media needed).
    """

    def __init__(
        self, live: LiveConnection, call_id: str, *,
        video: MediaStreamTrack | None = None, audio: MediaStreamTrack | None = None,
        media_file: str | None = None,
        send_video_to: Callable[[Mapping[str, Any]], bool] | None = None,
        data_channel: bool = False,
    ) -> None:
        self.live = live
        self.call_id = call_id
        self._relay = MediaRelay()
        self._player: MediaPlayer | None = None
        if media_file is not None:
            self._player = MediaPlayer(media_file)
            video = video or self._player.video
            audio = audio or self._player.audio
        self.video = video
        self.audio = audio
        self.send_video_to = send_video_to or (lambda info: True)
        # A data channel alone still runs ICE and DTLS: load tests measure
        # signalling and connection set-up without the cost of codecs.
        self.data_channel = data_channel
        self.peer: str | None = None
        self.role: str | None = None
        self.admitted = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        self.ice_servers: list[dict[str, Any]] = []
        self.peers: dict[str, RemotePeer] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.refusals: list[PreauError] = []  # signalling the server refused
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tap = self._take
        self._closing: dict[int, asyncio.Future[None]] = {}
        self._changed = asyncio.Event()  # a peer or a received track appeared

    # -- public ----------------------------------------------------------------
    async def join(self) -> dict[str, Any]:
        """Ask for a seat; returns the reply. In a lobby, :attr:`admitted` is
        set when a moderator admits us (negotiation starts then)."""
        self.live.taps.append(self._tap)
        self._worker = asyncio.get_running_loop().create_task(self._work())
        reply = await self.live.request("call.join", call=self.call_id)
        self.peer = reply["peer"]
        self.role = reply["role"]
        self.ice_servers = reply.get("ice_servers", [])
        if reply["admitted"]:
            await self._inbox.put({"ev": "call.admitted", **reply})
        return reply

    async def request(self, op: str, **params: Any) -> dict[str, Any]:
        """A ``call.*`` op as this peer (``call`` and ``peer`` filled in)."""
        return await self.live.request(op, call=self.call_id, peer=self.peer, **params)

    async def counter_from(self, peer: str, kind: str = "video",
                           timeout: float = 20) -> FrameCounter:
        """The frame counter of the ``kind`` track received from ``peer``."""
        async with asyncio.timeout(timeout):
            while True:
                remote = self.peers.get(peer)
                if remote is not None and kind in remote.counters:
                    return remote.counters[kind]
                self._changed.clear()
                await self._changed.wait()

    async def wait_connected(self, peer: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while peer not in self.peers:
                self._changed.clear()
                await self._changed.wait()
            await self.peers[peer].connected.wait()

    async def next_event(self, name: str, timeout: float = 10) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await self.events.get()
                if event.get("ev") == name:
                    return event

        return await asyncio.wait_for(wait(), timeout)

    async def leave(self) -> None:
        if self.peer is not None and not self.ended.is_set():
            with contextlib.suppress(PreauError, ConnectionError, TimeoutError):
                await self.request("call.leave")
        await self.close()

    async def close(self) -> None:
        """Close every peer connection and stop (the seat stays if not left)."""
        with contextlib.suppress(ValueError):
            self.live.taps.remove(self._tap)
        if self._worker is not None:
            # Stop the worker between two events rather than cancelling it
            # inside aiortc, whose awaits do not all survive a cancellation.
            self._inbox.put_nowait({"ev": _STOP})
            done, _ = await asyncio.wait([self._worker], timeout=CLOSE_TIMEOUT_S)
            if not done:
                self._worker.cancel()
                await asyncio.wait([self._worker], timeout=CLOSE_TIMEOUT_S)
        for remote in list(self.peers.values()):
            await self._close_peer(remote)
        if self._player is not None:
            for track in (self._player.video, self._player.audio):
                if track is not None:
                    track.stop()

    # -- events ----------------------------------------------------------------
    def _take(self, event: dict[str, Any]) -> bool:
        if event.get("call") != self.call_id or not str(event.get("ev", "")).startswith("call."):
            return False
        self._inbox.put_nowait(event)
        return True

    async def _work(self) -> None:
        while True:
            event = await self._inbox.get()
            if event.get("ev") == _STOP:
                return
            try:
                await self._handle(event)
            except Exception:
                log.exception("call %s: handling %s failed", self.call_id, event.get("ev"))

    async def _handle(self, event: dict[str, Any]) -> None:
        ev = event["ev"]
        if ev == "call.admitted":
            self.ice_servers = event.get("ice_servers", self.ice_servers)
            self.admitted.set()
            for info in event.get("peers", []):
                remote = self._remote(info)
                await self._offer(remote)
            await self.events.put(event)
        elif ev == "call.peer_joined":
            self._remote(event["peer"])  # the newcomer offers
            await self.events.put(event)
        elif ev == "call.signal":
            await self._on_signal(event)
        elif ev == "call.peer_left":
            gone: RemotePeer | None = self.peers.pop(str(event["peer"]), None)
            if gone is not None:
                await self._close_peer(gone)
            await self.events.put(event)
        elif ev == "call.moved":
            wanted = {info["peer"]: info for info in event["peers"]}
            for peer in [p for p in self.peers if p not in wanted]:
                await self._close_peer(self.peers.pop(peer))
            for peer, info in wanted.items():
                if peer not in self.peers:
                    remote = self._remote(info)
                    if not remote.polite:
                        await self._offer(remote)
            await self.events.put(event)
        elif ev in ("call.left", "call.ended"):
            self.end_reason = event.get("reason")
            self.ended.set()
            for remote in list(self.peers.values()):
                await self._close_peer(remote)
            self.peers.clear()
            await self.events.put(event)
        else:
            if ev == "call.peer_updated" and event["peer"]["peer"] in self.peers:
                self.peers[event["peer"]["peer"]].info = event["peer"]
            await self.events.put(event)

    def _remote(self, info: Mapping[str, Any]) -> RemotePeer:
        remote = self.peers.get(info["peer"])
        if remote is None:
            remote = RemotePeer(info["peer"], dict(info), bool(info.get("polite", False)))
            self.peers[remote.id] = remote
            self._changed.set()
        return remote

    def _connection(self, remote: RemotePeer) -> RTCPeerConnection:
        if remote.pc is not None:
            return remote.pc
        pc = RTCPeerConnection(rtc_configuration(self.ice_servers))
        remote.pc = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            remote.counters[track.kind] = FrameCounter(track)
            self._changed.set()

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                remote.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                remote.closed.set()

        if self.audio is not None:
            pc.addTrack(self._relay.subscribe(self.audio))
        if self.video is not None and self.send_video_to(remote.info):
            pc.addTrack(self._relay.subscribe(self.video))
        return pc

    async def _offer(self, remote: RemotePeer) -> None:
        pc = self._connection(remote)
        if self.data_channel:
            pc.createDataChannel("preau")
        remote.making_offer = True
        try:
            await pc.setLocalDescription(await pc.createOffer())
            await self._send(remote, "offer", sdp=pc.localDescription.sdp)
        finally:
            remote.making_offer = False

    async def _on_signal(self, event: Mapping[str, Any]) -> None:
        sender = event["from"]
        remote = self.peers.get(sender)
        if remote is None:
            return  # a peer we were told has left
        kind = event["kind"]
        if kind == "offer":
            pc = self._connection(remote)
            glare = remote.making_offer or pc.signalingState != "stable"
            if glare and not remote.polite:
                return  # impolite: ignore theirs, ours wins
            if glare:
                # aiortc cannot roll back: start over with a fresh connection.
                await self._close_peer(remote)
                remote.pc = None
                pc = self._connection(remote)
            await pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send(remote, "answer", sdp=pc.localDescription.sdp)
        elif kind == "answer" and remote.pc is not None:
            await remote.pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "answer"))
        elif kind == "candidate" and remote.pc is not None:
            c = event["candidate"]
            if c["candidate"]:
                candidate = candidate_from_sdp(c["candidate"].removeprefix("candidate:"))
                candidate.sdpMid = c.get("sdpMid")
                candidate.sdpMLineIndex = c.get("sdpMLineIndex")
                await remote.pc.addIceCandidate(candidate)

    async def _send(self, remote: RemotePeer, kind: str, **fields: Any) -> None:
        try:
            await self.request("call.signal", to=remote.id, kind=kind, **fields)
        except PreauError as exc:
            self.refusals.append(exc)
            await self.events.put({"ev": "call.refused", "call": self.call_id,
                                   "to": remote.id, "code": exc.code, "message": exc.message})

    async def _close_peer(self, remote: RemotePeer) -> None:
        for counter in remote.counters.values():
            await counter.stop()
        pc = remote.pc
        if pc is not None:
            # One close per connection, shielded: a second close (or a
            # cancelled worker) must not interrupt aiortc's shutdown half-way.
            closing = self._closing.get(id(pc))
            if closing is None:
                closing = asyncio.ensure_future(pc.close())
                self._closing[id(pc)] = closing
            try:
                await asyncio.wait_for(asyncio.shield(closing), CLOSE_TIMEOUT_S)
            except TimeoutError:
                # Seen when both ends close at once: aiortc waits for a
                # transport that will never answer. The sockets are closed by
                # then; give up waiting rather than hang the caller.
                log.debug("peer connection to %s slow to close", remote.id)
        remote.closed.set()
