"""The moderation ops of ``/ws`` (docs/protocol.md, "Moderation"): parse → call
the moderation service → reply. No rule lives here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.gateway import protocol
from server.gateway.connection import Connection
from server.moderation.service import ModerationService
from server.store import AuditAction

Handler = Callable[[Connection, protocol.Request], Awaitable[dict[str, Any]]]

_MEMBER_OPS = {
    "member.unmute": AuditAction.MEMBER_UNMUTE,
    "member.remove": AuditAction.MEMBER_REMOVE,
    "member.readmit": AuditAction.MEMBER_READMIT,
}


class ModerationOps:
    def __init__(self, service: ModerationService) -> None:
        self.service = service

    def handlers(self) -> dict[str, Handler]:
        return {
            "chat.redact": self._redact,
            "chat.report": self._report,
            "room.policy": self._policy,
            "held.list": self._held_list,
            "held.approve": self._approve,
            "held.reject": self._reject,
            "member.mute": self._mute,
            **dict.fromkeys(_MEMBER_OPS, self._member),
            "member.list": self._members,
            "report.resolve": self._resolve_report,
            "report.mine": self._my_reports,
        }

    async def _redact(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ChatRedact)
        event, created = await self.service.redact(conn.member, p.room, p.seq, p.reason)
        return {"room": p.room, "seq": event.seq, "redacts": event.redacts,
                "duplicate": not created}

    async def _resolve_report(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ReportResolve)
        return await self.service.resolve_report(
            conn.member, p.report, p.outcome == "delete", p.reason
        )

    async def _my_reports(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return {"reports": await self.service.my_reports(conn.member)}

    async def _report(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ChatReport)
        return await self.service.report(conn.member, p.room, p.seq, p.reason)

    async def _policy(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomPolicySet)
        policy = await self.service.set_policy(conn.member, p.room, p.change(), p.reason)
        return {"room": p.room, "policy": policy.to_wire()}

    async def _held_list(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldList)
        return {"room": p.room, "held": await self.service.held(conn.member, p.room)}

    async def _approve(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldApprove)
        return {"room": p.room,
                **await self.service.decide(conn.member, p.room, p.held, True, None)}

    async def _reject(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldReject)
        return {"room": p.room,
                **await self.service.decide(conn.member, p.room, p.held, False, p.reason)}

    async def _mute(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberMute)
        state, changed = await self.service.moderate_member(
            conn.member, p.room, p.person, AuditAction.MEMBER_MUTE, p.reason,
            until_ms=p.until, duration_s=p.duration_s,
        )
        return {"room": p.room, "person": p.person, "until": state.muted_until_ms,
                "duplicate": not changed}

    async def _member(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberAction)
        state, changed = await self.service.moderate_member(
            conn.member, p.room, p.person, _MEMBER_OPS[request.op], p.reason
        )
        return {"room": p.room, "person": p.person, "removed": state.removed,
                "duplicate": not changed}

    async def _members(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberList)
        return {"room": p.room, "members": await self.service.members(conn.member, p.room)}
