"""The moderation ops of ``/ws`` (docs/protocol.md, "Moderation"): parse → call
the moderation service → reply. No rule lives here."""

from __future__ import annotations

from typing import Any

from preau.server.gateway import protocol
from preau.server.gateway.registry import OpTable, op, table
from preau.server.live.connection import Connection
from preau.server.moderation.service import ModerationService
from preau.server.store import AuditAction

_MEMBER_OPS = {
    "member.unmute": AuditAction.MEMBER_UNMUTE,
    "member.remove": AuditAction.MEMBER_REMOVE,
    "member.readmit": AuditAction.MEMBER_READMIT,
}


class ModerationOps:
    def __init__(self, service: ModerationService) -> None:
        self.service = service

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("chat.redact", protocol.ChatRedact)
    async def _redact(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ChatRedact)
        event, created = await self.service.redact(conn.member, p.room, p.seq, p.reason)
        return {"room": p.room, "seq": event.seq, "redacts": event.redacts,
                "duplicate": not created}

    @op("report.resolve", protocol.ReportResolve)
    async def _resolve_report(
        self, conn: Connection, request: protocol.Request
    ) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ReportResolve)
        return await self.service.resolve_report(
            conn.member, p.report, p.outcome == "delete", p.reason
        )

    @op("report.mine", protocol.ReportMine)
    async def _my_reports(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return {"reports": await self.service.my_reports(conn.member)}

    @op("chat.report", protocol.ChatReport)
    async def _report(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.ChatReport)
        return await self.service.report(conn.member, p.room, p.seq, p.reason)

    @op("room.policy", protocol.RoomPolicySet)
    async def _policy(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomPolicySet)
        policy = await self.service.set_policy(conn.member, p.room, p.change(), p.reason)
        return {"room": p.room, "policy": policy.to_wire()}

    @op("held.list", protocol.HeldList)
    async def _held_list(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldList)
        return {"room": p.room, "held": await self.service.held(conn.member, p.room)}

    @op("held.approve", protocol.HeldApprove)
    async def _approve(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldApprove)
        return {"room": p.room,
                **await self.service.decide(conn.member, p.room, p.held, True, None)}

    @op("held.reject", protocol.HeldReject)
    async def _reject(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.HeldReject)
        return {"room": p.room,
                **await self.service.decide(conn.member, p.room, p.held, False, p.reason)}

    @op("member.mute", protocol.MemberMute)
    async def _mute(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberMute)
        state, changed = await self.service.moderate_member(
            conn.member, p.room, p.person, AuditAction.MEMBER_MUTE, p.reason,
            until_ms=p.until, duration_s=p.duration_s,
        )
        return {"room": p.room, "person": p.person, "until": state.muted_until_ms,
                "duplicate": not changed}

    @op("member.unmute", protocol.MemberAction)
    @op("member.remove", protocol.MemberAction)
    @op("member.readmit", protocol.MemberAction)
    async def _member(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberAction)
        state, changed = await self.service.moderate_member(
            conn.member, p.room, p.person, _MEMBER_OPS[request.op], p.reason
        )
        return {"room": p.room, "person": p.person, "removed": state.removed,
                "duplicate": not changed}

    @op("member.list", protocol.MemberList)
    async def _members(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MemberList)
        return {"room": p.room, "members": await self.service.members(conn.member, p.room)}
