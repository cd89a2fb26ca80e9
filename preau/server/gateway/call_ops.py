"""The ``call.*`` ops of ``/ws`` (docs/video.md): parse → call the call service → reply.

Every op but ``call.create``, ``call.list`` and ``call.join`` names the
caller's own ``peer`` (the id it got on joining); the service refuses a peer
id the socket does not hold with ``not_in_call``, whether someone else holds
it or nobody does. ``who`` names the peer acted upon.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from preau.rtc import room as rtc
from preau.rtc.room import CallState, Controls, LobbyPolicy, Outcome, Role
from preau.server.calls.rules import controls_with, no_sfu_error, sfu_configured
from preau.server.calls.service import CallService
from preau.server.errors import ErrorCode, PreauError
from preau.server.gateway.protocol import Id, Op, Request, RoomId
from preau.server.gateway.registry import OpTable, models, op, table
from preau.server.live.connection import Connection
from preau.server.text import is_blank, without_invisible

PeerId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
CallId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=rtc.MAX_NAME_CHARS,
                                  pattern=r"^[^\x00-\x1f\x7f]*$")]


class ControlFields(Op):
    """Controls a moderator sets; fields left out stay as they are."""

    lobby: LobbyPolicy | None = None
    mute_on_start: StrictBool | None = None
    mic_locked: StrictBool | None = None
    camera_locked: StrictBool | None = None
    teacher_only_cameras: StrictBool | None = None
    end_when_no_moderator: StrictBool | None = None
    force_sfu: StrictBool | None = None


class CallCreate(Op):
    """Open a call in a class room: the whole class (teachers, staff), or a
    study group of ``people`` (pupils of the class; a pupil opener is added)."""

    room: RoomId
    name: Name | None = None
    people: Annotated[list[Id], Field(min_length=1, max_length=12)] | None = None
    controls: ControlFields | None = None


class CallList(Op):
    room: RoomId


class CallJoin(Op):
    call: CallId


class PeerOp(Op):
    call: CallId
    peer: PeerId


class TargetOp(PeerOp):
    who: PeerId


class CallSignal(PeerOp):
    """An offer, answer, ICE candidate or end-of-candidates for peer ``to``."""

    to: PeerId
    kind: Literal["offer", "answer", "candidate", "end_of_candidates"]
    # No max_length: an SDP over rtc.signal.MAX_SDP_BYTES gets too_large, not bad_request.
    sdp: StrictStr | None = None
    restart: StrictBool = False  # an ICE restart offer
    candidate: StrictStr | None = None
    sdpMid: StrictStr | None = None  # RTCIceCandidateInit's names
    sdpMLineIndex: StrictInt | None = None
    usernameFragment: StrictStr | None = None


class CallControls(PeerOp, ControlFields):
    pass


class CallMedia(PeerOp):
    """Mute or unmute (oneself), or mute someone (moderators, ``who``)."""

    who: PeerId | None = None
    audio_muted: StrictBool | None = None
    video_muted: StrictBool | None = None


class CallHand(PeerOp):
    who: PeerId | None = None
    raised: StrictBool


class CallRole(TargetOp):
    role: Literal["presenter", "viewer"]


class CallBreakouts(PeerOp):
    rooms: Annotated[list[Name], Field(min_length=1, max_length=rtc.MAX_BREAKOUTS)]
    assign: Annotated[dict[PeerId, StrictInt], Field(max_length=200)]
    duration_s: Annotated[StrictInt, Field(ge=60, le=rtc.MAX_BREAKOUT_S)]


def _controls(fields: ControlFields) -> dict[str, Any]:
    return {name: getattr(fields, name) for name in ControlFields.model_fields}


class CallOps:
    """The :class:`~preau.server.gateway.registry.OpModule` of video calls."""

    def __init__(self, service: CallService) -> None:
        self.service = service

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        await self.service.on_disconnect(conn)

    # -- handlers ----------------------------------------------------------------
    @op("call.create", CallCreate)
    async def _create(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallCreate)
        controls = None if p.controls is None else controls_with(
            Controls(end_when_no_moderator=self.service.default_end_without_moderator),
            _controls(p.controls))
        state = await self.service.create(conn.member, p.room, p.name, p.people, controls)
        return state.to_wire(for_moderator=True)

    @op("call.list", CallList)
    async def _list(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallList)
        calls = await self.service.list_calls(conn.member, p.room)
        return {"room": p.room, "calls": [c.to_wire() for c in calls]}

    @op("call.join", CallJoin)
    async def _join(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallJoin)
        state, seat = await self.service.join(conn, p.call)
        return self.service.welcome(state, seat)

    @op("call.leave", PeerOp)
    async def _leave(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, PeerOp)
        await self.service.leave(conn, p.call, p.peer)
        return {"call": p.call}

    @op("call.signal", CallSignal)
    async def _signal(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallSignal)
        if p.kind in ("offer", "answer") and p.sdp is None:
            raise PreauError(ErrorCode.BAD_REQUEST, f"an {p.kind} needs sdp")
        if p.kind == "candidate" and p.candidate is None:
            raise PreauError(ErrorCode.BAD_REQUEST, "a candidate needs candidate")
        await self.service.signal(conn, p.call, p.peer, p.to, p.kind, {
            "sdp": p.sdp, "restart": p.restart, "candidate": p.candidate, "sdpMid": p.sdpMid,
            "sdpMLineIndex": p.sdpMLineIndex, "usernameFragment": p.usernameFragment,
        })
        return {"call": p.call, "to": p.to}

    async def _run(
        self, conn: Connection, p: PeerOp, transition: Callable[[CallState, int], Outcome]
    ) -> dict[str, Any]:
        outcome = await self.service.act(conn, p.call, p.peer, transition)
        return {"call": p.call, "version": outcome.state.version}

    @op("call.admit", TargetOp)
    async def _admit(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, TargetOp)
        outcome = await self.service.admit(conn, p.call, p.peer, p.who)
        return {"call": p.call, "version": outcome.state.version}

    @op("call.deny", TargetOp)
    async def _deny(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, TargetOp)
        return await self._run(conn, p, lambda st, _o: rtc.deny(st, p.peer, p.who))

    @op("call.remove", TargetOp)
    async def _remove(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, TargetOp)
        return await self._run(conn, p, lambda st, _o: rtc.remove(st, p.peer, p.who))

    @op("call.end", PeerOp)
    async def _end(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, PeerOp)
        return await self._run(conn, p, lambda st, _o: rtc.end(st, p.peer))

    @op("call.controls", CallControls)
    async def _set_controls(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallControls)
        changes = _controls(p)
        if p.force_sfu and not sfu_configured(self.service.settings):
            raise no_sfu_error()
        mesh = self.service.settings.call_mesh_size
        return await self._run(conn, p, lambda st, _o: rtc.set_controls(
            st, p.peer, controls_with(st.controls, changes), mesh))

    @op("call.mute_all", PeerOp)
    async def _mute_all(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, PeerOp)
        return await self._run(conn, p, lambda st, _o: rtc.mute_all(st, p.peer))

    @op("call.media", CallMedia)
    async def _media(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallMedia)
        if p.audio_muted is None and p.video_muted is None:
            raise PreauError(ErrorCode.BAD_REQUEST, "give audio_muted or video_muted")
        return await self._run(conn, p, lambda st, _o: rtc.set_media(
            st, p.peer, p.who or p.peer, audio_muted=p.audio_muted, video_muted=p.video_muted))

    @op("call.hand", CallHand)
    async def _hand(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallHand)
        return await self._run(conn, p, lambda st, _o: rtc.set_hand(
            st, p.peer, p.who or p.peer, p.raised))

    @op("call.lower_all", PeerOp)
    async def _lower_all(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, PeerOp)
        return await self._run(conn, p, lambda st, _o: rtc.lower_all(st, p.peer))

    @op("call.role", CallRole)
    async def _role(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallRole)
        return await self._run(conn, p, lambda st, _o: rtc.set_role(
            st, p.peer, p.who, Role(p.role)))

    @op("call.breakouts", CallBreakouts)
    async def _breakouts(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CallBreakouts)
        now = self.service.now_ms()
        # Shown to every pupil, as a call's name is: cleaned the same way.
        rooms = [without_invisible(name).strip() for name in p.rooms]
        if any(is_blank(name) for name in rooms):
            raise PreauError(ErrorCode.BAD_REQUEST, "every breakout room needs a name")
        return await self._run(conn, p, lambda st, _o: rtc.open_breakouts(
            st, p.peer, rooms, p.assign, p.duration_s, now))

    @op("call.breakouts_close", PeerOp)
    async def _breakouts_close(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, PeerOp)
        now = self.service.now_ms()
        return await self._run(conn, p, lambda st, _o: rtc.close_breakouts(st, p.peer, now))


# The ops' parameter models (their wire schema), read from the handlers' @op.
OPS: dict[str, type[Op]] = models(CallOps)
