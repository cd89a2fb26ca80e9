"""The ``sfu.*`` ops of ``/ws``: signalling of calls in SFU mode, relayed to Janus.

Préau is the SFU's control plane (docs/video.md, "SFU (Janus)"): clients send
their descriptions and candidates here, never to Janus. Each op is checked in
this order: shape (pydantic, then preau/rtc/signal.py for SDP and candidates) →
the caller holds ``peer`` in ``call`` on this socket → the seat is admitted
and the call is in SFU mode (call service, read from the store) → the op's own
rule → the SFU.

The classroom controls are applied at the SFU, not asked of clients:

- a seat's mute flags (a locked pupil is always muted) become VideoRoom
  ``moderate`` mutes of its feed, at publish time and on every change;
- "teacher-only cameras": a viewer's subscription to another viewer's feed
  carries audio only (the SFU offers no video section), and turning the
  control on ends the video subscriptions it now forbids (``sfu.ended``);
- a removed peer is kicked from the SFU room, and its subscriptions end;
- breakout rooms: no subscription across rooms;
- the end of the call destroys the SFU room.

Events sent to the client: ``sfu.ended {call, target, reason}`` when the SFU
or a control ends one of its connections ("kicked", "removed", "policy",
"hangup", "lost", "ended").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from pydantic import Field, StrictInt, StrictStr

from preau.rtc.sfu import MediaKind, SfuBackend, SfuError
from preau.rtc.signal import CandidateBudget, SdpType, SignalError, check_candidate, check_sdp
from preau.server import metrics
from preau.server.calls.seating import ControlChange, ControlKind, Seating
from preau.server.calls.service import CallService
from preau.server.errors import ErrorCode, PreauError
from preau.server.gateway.protocol import Op, Request
from preau.server.gateway.registry import OpTable, models, op, table
from preau.server.live.connection import Connection

log = logging.getLogger(__name__)


Ident = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# "publish" or a subscription id given by the backend.
Target = Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
PUBLISH = "publish"


class SfuOp(Op):
    call: Ident
    peer: Ident  # the caller's own peer id (from call.join)


class SfuPublish(SfuOp):
    """Publish one's camera/microphone: ``sdp`` is the offer; the reply's ``sdp``
    is the SFU's answer. A new publish replaces the previous one."""

    # No max_length: an SDP over rtc.signal.MAX_SDP_BYTES gets too_large, not bad_request.
    sdp: StrictStr


class SfuSubscribe(SfuOp):
    """Receive ``feed`` (a peer id of the call); the reply has the SFU's offer
    (``sdp``), the ``subscription`` id and the ``kinds`` granted."""

    feed: Ident


class SfuAnswer(SfuOp):
    subscription: Target
    sdp: StrictStr


class SfuCandidate(Op):
    """RTCIceCandidateInit's fields (empty ``candidate``: end of candidates of an m-line)."""

    candidate: StrictStr
    sdpMid: StrictStr | None = None
    sdpMLineIndex: StrictInt | None = None
    usernameFragment: StrictStr | None = None


class SfuTrickle(SfuOp):
    """A candidate for ``target`` ("publish" or a subscription); ``null``: all sent."""

    target: Target
    candidate: SfuCandidate | None


class SfuUnsubscribe(SfuOp):
    subscription: Target


@dataclass
class _Held:
    """What one local peer holds at the SFU."""

    conn: Connection
    publishing: bool = False
    subscriptions: dict[str, str] = field(default_factory=dict)  # subscription → feed
    video: set[str] = field(default_factory=set)  # subscriptions that carry video
    mutes: tuple[bool, bool] | None = None  # (audio, video) last applied at the SFU


def _signal_error(e: SignalError) -> PreauError:
    return PreauError(ErrorCode.TOO_LARGE if e.too_large else ErrorCode.BAD_REQUEST, str(e))


def _sfu_error(e: SfuError) -> PreauError:
    if e.missing:
        return PreauError(ErrorCode.NOT_FOUND, f"not at the SFU: {e}")
    log.warning("SFU request failed: %s", e)
    return PreauError(ErrorCode.UNAVAILABLE, "the video server did not accept the request")


class SfuOps:
    """The :class:`~preau.server.gateway.registry.OpModule` of SFU signalling."""

    def __init__(self, calls: CallService, backend: SfuBackend | None) -> None:
        self.calls = calls
        self.backend = backend
        self._held: dict[tuple[str, str], _Held] = {}  # (call, peer) → held here
        self._rooms: set[str] = set()  # SFU rooms this node knows are open
        self._budget = CandidateBudget()
        self._max_subscriptions = calls.settings.call_capacity
        calls.on_control(self._on_control)
        if backend is not None:
            backend.on_ended(self._on_ended)

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        for key, held in list(self._held.items()):
            if held.conn is conn:
                await self._drop(*key)

    # -- checks ----------------------------------------------------------------------

    async def _seated(self, conn: Connection, p: SfuOp) -> tuple[SfuBackend, Seating]:
        if self.calls.local_peer(conn, p.call) != p.peer:
            raise PreauError(ErrorCode.NOT_IN_CALL, "you hold no such peer in this call")
        # Read from the store with the person's removal from the room: a
        # removed member is refused even before the cut reaches this node.
        seating = await self.calls.seating_of_peer(p.call, p.peer, conn.member.id)
        if seating is None:
            # The socket held it, the store no longer seats it (cut, notice
            # lost): the same answer as for a peer id never held.
            raise PreauError(ErrorCode.NOT_IN_CALL, "you hold no such peer in this call")
        if not seating.sfu:
            raise PreauError(ErrorCode.CONFLICT, "this call is not in SFU mode: use call.signal")
        if self.backend is None:
            raise PreauError(ErrorCode.UNAVAILABLE, "no video server is configured")
        if p.call not in self._rooms:
            try:
                await self.backend.open_room(p.call, max_publishers=self._max_subscriptions)
            except SfuError as e:
                raise _sfu_error(e) from e
            self._rooms.add(p.call)
        return self.backend, seating

    def _held_by(self, conn: Connection, p: SfuOp) -> _Held:
        held = self._held.get((p.call, p.peer))
        if held is None:
            held = self._held[(p.call, p.peer)] = _Held(conn)
        return held

    # -- handlers ----------------------------------------------------------------------

    @op("sfu.publish", SfuPublish)
    async def _publish(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuPublish)
        try:
            check_sdp(p.sdp, SdpType.OFFER)
        except SignalError as e:
            raise _signal_error(e) from None
        backend, seating = await self._seated(conn, p)
        held = self._held_by(conn, p)
        mutes = (not seating.may_publish("audio"), not seating.may_publish("video"))
        try:
            published = await backend.publish(
                p.call, p.peer, p.sdp, audio_muted=mutes[0], video_muted=mutes[1])
        except SfuError as e:
            raise self._failed(p.call, e) from e
        held.publishing = True
        held.mutes = mutes
        metrics.SFU_ASSIGNMENTS.inc()
        self._budget.refill(p.peer, PUBLISH)
        # The seat may have changed while Janus worked: apply what holds now.
        await self._apply_mutes(p.call, p.peer)
        return {"call": p.call, "sdp": published.answer_sdp,
                "kinds": sorted(k.value for k in published.kinds)}

    @op("sfu.subscribe", SfuSubscribe)
    async def _subscribe(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuSubscribe)
        backend, seating = await self._seated(conn, p)
        if p.feed == p.peer:
            raise PreauError(ErrorCode.BAD_REQUEST, "one does not subscribe to oneself")
        publisher = seating.state.seats.get(p.feed)
        if publisher is None or not publisher.admitted:
            raise PreauError(ErrorCode.NOT_FOUND, "no such feed in this call")
        if publisher.breakout != seating.seat.breakout:
            raise PreauError(ErrorCode.FORBIDDEN, "that peer is in another breakout room")
        held = self._held_by(conn, p)
        if len(held.subscriptions) >= self._max_subscriptions:
            raise PreauError(ErrorCode.TOO_LARGE, "too many subscriptions")
        kinds = {MediaKind.AUDIO}
        if seating.may_receive_video_of(publisher):
            kinds.add(MediaKind.VIDEO)
        try:
            sub = await backend.subscribe(p.call, p.peer, p.feed, frozenset(kinds))
        except SfuError as e:
            raise self._failed(p.call, e) from e
        held.subscriptions[sub.subscription] = p.feed
        if MediaKind.VIDEO in sub.kinds:
            held.video.add(sub.subscription)
        return {"call": p.call, "feed": p.feed, "subscription": sub.subscription,
                "sdp": sub.offer_sdp, "kinds": sorted(k.value for k in sub.kinds)}

    @op("sfu.answer", SfuAnswer)
    async def _answer(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuAnswer)
        try:
            check_sdp(p.sdp, SdpType.ANSWER)
        except SignalError as e:
            raise _signal_error(e) from None
        backend, _ = await self._seated(conn, p)
        self._target(p, p.subscription)
        try:
            await backend.answer(p.call, p.peer, p.subscription, p.sdp)
        except SfuError as e:
            raise _sfu_error(e) from e
        self._budget.refill(p.peer, p.subscription)
        return {"call": p.call, "subscription": p.subscription}

    @op("sfu.trickle", SfuTrickle)
    async def _trickle(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuTrickle)
        candidate = None
        if p.candidate is not None:
            c = p.candidate
            try:
                candidate = check_candidate(c.candidate, c.sdpMid, c.sdpMLineIndex,
                                            c.usernameFragment)
            except SignalError as e:
                raise _signal_error(e) from None
        backend, _ = await self._seated(conn, p)
        self._target(p, p.target)
        # After the seat check: a forged peer id must not spend its owner's budget.
        if not self._budget.take(p.peer, p.target, time.monotonic()):
            raise PreauError(ErrorCode.RATE_LIMITED, "too many candidates", retry_after=1.0)
        try:
            await backend.trickle(p.call, p.peer, p.target, candidate)
        except SfuError as e:
            raise _sfu_error(e) from e
        return {"call": p.call, "target": p.target}

    @op("sfu.unpublish", SfuOp)
    async def _unpublish(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuOp)
        backend, _ = await self._seated(conn, p)
        held = self._held.get((p.call, p.peer))
        if held is not None and held.publishing:
            held.publishing, held.mutes = False, None
            await backend.unpublish(p.call, p.peer)
        return {"call": p.call}

    @op("sfu.unsubscribe", SfuUnsubscribe)
    async def _unsubscribe(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, SfuUnsubscribe)
        await self._seated(conn, p)
        self._target(p, p.subscription)
        await self._end_subscription(p.call, p.peer, p.subscription, None)
        return {"call": p.call, "subscription": p.subscription}

    def _failed(self, call: str, e: SfuError) -> PreauError:
        if e.missing:
            # The room may be what is missing (Janus restarted): reopen it next time.
            self._rooms.discard(call)
        return _sfu_error(e)

    def _target(self, p: SfuOp, target: str) -> None:
        held = self._held.get((p.call, p.peer))
        ok = held is not None and (
            held.publishing if target == PUBLISH else target in held.subscriptions)
        if not ok:
            raise PreauError(ErrorCode.NOT_FOUND, "no such publication or subscription")

    # -- controls, applied at the SFU ----------------------------------------------------

    async def _on_control(self, change: ControlChange) -> None:
        if self.backend is None:
            return
        call = change.call_id
        local = [peer for (c, peer) in self._held if c == call]
        if change.kind is ControlKind.END:
            for peer in local:
                await self._drop(call, peer, reason="ended")
            self._rooms.discard(call)
            try:
                await self.backend.close_room(call)  # idempotent: every node may do it
            except SfuError as e:
                log.warning("closing SFU room %s failed: %s", call, e)
            return
        if change.kind in (ControlKind.REMOVE, ControlKind.LEAVE):
            gone = change.peer
            if gone is not None and (call, gone) in self._held:
                if change.kind is ControlKind.REMOVE:
                    await self._kick(call, gone)
                else:
                    await self._drop(call, gone)
            # Subscriptions to the departed feed end at the SFU (no media) and here.
            for other in local:
                held = self._held.get((call, other))
                for sub, feed in list(held.subscriptions.items()) if held else []:
                    if feed == gone:
                        await self._end_subscription(call, other, sub, "hangup")
            if not any(c == call for c, _ in self._held):
                self._rooms.discard(call)  # nobody here any more: re-check on next use
            return
        # MEDIA (one seat), CONTROLS, BREAKOUTS, MODE: re-apply mutes and
        # subscription rights of the local peers concerned.
        state = change.state
        if change.kind is ControlKind.MEDIA and change.peer is not None:
            local = [change.peer] if (call, change.peer) in self._held else []
        for peer in local:
            held = self._held.get((call, peer))
            seat = state.seats.get(peer)
            if held is None or seat is None:
                continue
            if held.publishing:
                await self._moderate(call, peer, seat.audio_muted, seat.video_muted)
            viewer = Seating(state, seat)
            for sub, feed in list(held.subscriptions.items()):
                publisher = state.seats.get(feed)
                allowed = publisher is not None and publisher.breakout == seat.breakout and (
                    sub not in held.video or viewer.may_receive_video_of(publisher))
                if not allowed:
                    await self._end_subscription(call, peer, sub, "policy")

    async def _apply_mutes(self, call: str, peer: str) -> None:
        seating = await self.calls.seating_of_peer(call, peer)
        if seating is not None:
            await self._moderate(call, peer, not seating.may_publish("audio"),
                                 not seating.may_publish("video"))

    async def _moderate(self, call: str, peer: str, audio: bool, video: bool) -> None:
        held = self._held.get((call, peer))
        if self.backend is None or held is None or held.mutes == (audio, video):
            return
        try:
            await self.backend.moderate(call, peer, audio_muted=audio, video_muted=video)
        except SfuError as e:
            # Logged loudly; the seat's flags stay the truth and the next
            # change (or publish) applies them again.
            log.error("muting %s at the SFU failed: %s", peer, e)
            held.mutes = None
            return
        held.mutes = (audio, video)

    async def _kick(self, call: str, peer: str) -> None:
        await self._drop(call, peer, reason="removed", kick=True)

    async def _drop(
        self, call: str, peer: str, reason: str | None = None, *, kick: bool = False
    ) -> None:
        """Forget everything ``peer`` holds; tell its socket why, if ``reason``.
        Forgotten first, so the SFU's own "ended" callbacks find nothing to report."""
        held = self._held.pop((call, peer), None)
        if held is None or self.backend is None:
            return
        if kick:
            try:
                await self.backend.kick(call, peer)
            except SfuError as e:
                log.error("kicking %s at the SFU failed: %s", peer, e)
        await self.backend.leave(call, peer)
        self._budget.forget(peer)
        if reason is not None and not held.conn.closed:
            targets = list(held.subscriptions)
            if held.publishing:
                targets.append(PUBLISH)
            for target in targets:
                _push_ended(held.conn, call, target, reason)

    async def _end_subscription(
        self, call: str, peer: str, sub: str, reason: str | None
    ) -> None:
        held = self._held.get((call, peer))
        if held is None or held.subscriptions.pop(sub, None) is None:
            return
        held.video.discard(sub)
        if self.backend is not None:
            await self.backend.unsubscribe(call, peer, sub)
        if reason is not None and not held.conn.closed:
            _push_ended(held.conn, call, sub, reason)

    async def _on_ended(self, call: str, peer: str, target: str, reason: str) -> None:
        """The SFU ended a connection on its own (kicked, ICE failure, restart)."""
        held = self._held.get((call, peer))
        if held is None:
            return
        if reason == "lost":
            self._rooms.discard(call)
        if target == PUBLISH:
            held.publishing = False
            held.mutes = None
        else:
            held.subscriptions.pop(target, None)
            held.video.discard(target)
        if not held.conn.closed:
            _push_ended(held.conn, call, target, reason)


def _push_ended(conn: Connection, call: str, target: str, reason: str) -> None:
    conn.push(orjson.dumps({"ev": "sfu.ended", "call": call, "target": target,
                            "reason": reason}))


def open_sfu_backend(urls: tuple[str, ...], secret: str) -> SfuBackend | None:
    """The SFU backend for ``PREAU_JANUS_URLS``, or None when none is configured
    (then ``sfu.*`` ops answer ``unavailable``). httpx is imported only then."""
    if not urls:
        return None
    try:
        from preau.rtc.janus.backend import JanusSfu
    except ImportError as e:  # httpx
        raise RuntimeError("PREAU_JANUS_URLS needs the sfu extra: pip install 'preau[sfu]'") from e

    return JanusSfu(urls, secret)


# The ops' parameter models (their wire schema), read from the handlers' @op.
OPS: dict[str, type[Op]] = models(SfuOps)
