"""The teacher's tools: room policy, pre-moderation queue, redactions, mutes,
removals, and the school's audit log.

Each action is: authorise (the actor's role, from the directory and the
room's state) → commit with its audit entry (one store transaction, which
re-checks what it must) → tell the clients concerned on every node (the hub).
Handlers (WebSocket and REST) only parse and call this layer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from server.chat.render import MessageRenderer
from server.chat.service import ChatService, RoomAccess
from server.clock import Clock
from server.directory.model import Member, Profile
from server.directory.service import Directory
from server.errors import ErrorCode, PreauError, forbidden, not_found
from server.gateway.hub import Audience, Hub
from server.gateway.protocol import encode, event
from server.moderation.rules import (
    MemberState,
    PolicyChange,
    RoomPolicy,
    RoomRole,
    base_role,
    check_member_target,
    check_moderator,
    mute_end,
)
from server.settings import Settings
from server.store import (
    AuditAction,
    AuditEntry,
    AuditQuery,
    HeldStatus,
    Message,
    Store,
)

log = logging.getLogger(__name__)

MODERATORS = Audience(moderators=True)


class ModerationService:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        hub: Hub,
        chat: ChatService,
        render: MessageRenderer,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._store = store
        self._directory = directory
        self._hub = hub
        self._chat = chat
        self._render = render
        self._settings = settings
        self._clock = clock

    async def _moderating(self, member: Member, room_id: str) -> RoomAccess:
        access = await self._chat.open_room(member, room_id)
        check_moderator(access.role)
        return access

    # -- policy --------------------------------------------------------------
    async def set_policy(
        self, member: Member, room_id: str, change: PolicyChange, reason: str | None
    ) -> RoomPolicy:
        access = await self._moderating(member, room_id)
        policy, changed = await self._store.set_room_policy(
            access.room.id, member.id, change, reason, self._clock.now_ms()
        )
        if changed:
            await self._hub.publish_ephemeral(access.room.id, event(
                "room.policy", room=access.room.id, policy=policy.to_wire(),
                by=await self._render.person(member.id)))
        return policy

    # -- pre-moderation --------------------------------------------------------
    async def held(self, member: Member, room_id: str) -> list[dict[str, Any]]:
        """Moderators: the room's pending messages. Others: their own pending
        and rejected ones (so an author learns why, even after reconnecting)."""
        access = await self._chat.open_room(member, room_id)
        if access.role is RoomRole.MODERATOR:
            held = await self._store.held_messages(access.room.id)
        else:
            held = await self._store.held_messages(
                access.room.id, sender_id=member.id,
                statuses=(HeldStatus.PENDING, HeldStatus.REJECTED),
            )
        return [await self._render.held_fields(h) for h in held]

    async def decide(
        self, member: Member, room_id: str, held_id: str, approve: bool, reason: str | None
    ) -> dict[str, Any]:
        access = await self._moderating(member, room_id)
        room = access.room.id
        try:
            result = await self._store.decide_held(
                room, held_id, member.id, approve, reason, "m_" + secrets.token_urlsafe(12),
                self._clock.now_ms(),
            )
        except LookupError:
            raise not_found("no such held message in this room") from None
        wanted = HeldStatus.APPROVED if approve else HeldStatus.REJECTED
        if not result.changed and result.held.status is not wanted:
            raise PreauError(ErrorCode.CONFLICT, f"this message was already {result.held.status}")
        held = result.held
        if result.changed:
            audience = Audience(frozenset({held.sender_id}), moderators=True)
            by = await self._render.person(member.id)
            if result.message is not None:
                message = result.message
                await self._hub.publish_message(room, message.seq,
                                                await self._render.frame(message))
                await self._hub.publish_to(room, event(
                    "chat.approved", room=room, id=held.id, seq=message.seq, by=by), audience)
            else:
                fields: dict[str, Any] = {"room": room, "id": held.id, "by": by}
                if reason:
                    fields["reason"] = reason
                await self._hub.publish_to(room, encode({"ev": "chat.rejected", **fields}),
                                           audience)
        return {"held": await self._render.held_fields(held), "duplicate": not result.changed}

    # -- redaction -------------------------------------------------------------
    async def redact(
        self, member: Member, room_id: str, seq: int, reason: str | None
    ) -> tuple[Message, bool]:
        """Delete (a moderator) or recall (the author, within the window) a
        message; idempotent: a redacted message returns its first redaction."""
        access = await self._chat.open_room(member, room_id)
        result = await self._store.redact_message(
            access.room.id, seq, member.id, access.role is RoomRole.MODERATOR, reason,
            "r_" + secrets.token_urlsafe(12), self._clock.now_ms(),
        )
        if result.refusal is not None:
            raise result.refusal.error()
        assert result.event is not None
        if result.created:
            await self._hub.publish_message(access.room.id, result.event.seq,
                                            await self._render.frame(result.event))
        return result.event, result.created

    # -- members ---------------------------------------------------------------
    async def moderate_member(
        self,
        member: Member,
        room_id: str,
        person_id: str,
        action: AuditAction,
        reason: str | None,
        *,
        until_ms: int | None = None,
        duration_s: int | None = None,
    ) -> tuple[MemberState, bool]:
        """Mute, unmute, remove or re-admit a member of the room (not a moderator)."""
        access = await self._moderating(member, room_id)
        room = access.room
        target = await self._directory.member(person_id)
        if target is None or target.school_id != room.school_id:
            raise not_found("no such member in this room")
        check_member_target(base_role(target, room))
        now = self._clock.now_ms()
        end = mute_end(now, until_ms, duration_s) if action is AuditAction.MEMBER_MUTE else None
        change = await self._store.moderate_member(
            room.id, member.id, person_id, action, end, reason, now
        )
        if change.changed:
            await self._announce(room.id, member, target, action, change.state, reason)
        return change.state, change.changed

    async def _announce(
        self, room_id: str, actor: Member, target: Member, action: AuditAction,
        state: MemberState, reason: str | None,
    ) -> None:
        fields: dict[str, Any] = {
            "room": room_id,
            "person": {"id": target.id, "name": target.display_name},
            "by": await self._render.person(actor.id),
        }
        if reason:
            fields["reason"] = reason
        if action is AuditAction.MEMBER_MUTE:
            fields["until"] = state.muted_until_ms
            name, audience = "member.muted", Audience(frozenset({target.id}), True)
        elif action is AuditAction.MEMBER_UNMUTE:
            name, audience = "member.unmuted", Audience(frozenset({target.id}), True)
        elif action is AuditAction.MEMBER_REMOVE:
            # Cut first: the notice to moderators must not reach the target.
            await self._hub.member_removed(room_id, target.id, True)
            name, audience = "member.removed", MODERATORS
        else:
            await self._hub.member_removed(room_id, target.id, False)
            name, audience = "member.readmitted", MODERATORS
        await self._hub.publish_to(room_id, encode({"ev": name, **fields}), audience)

    async def members(self, member: Member, room_id: str) -> list[dict[str, Any]]:
        """Moderators: everyone the room gathers, with their role and state."""
        access = await self._moderating(member, room_id)
        room = access.room
        view = await self._directory.school(room.school_id)
        states = await self._store.member_states(room.id)
        now = self._clock.now_ms()
        out = []
        for person in [] if view is None else view.members.values():
            role = base_role(person, room)
            if role is RoomRole.NONE:
                continue
            state = states.get(person.id, MemberState())
            entry: dict[str, Any] = {
                "id": person.id, "name": person.display_name, "profile": person.profile.value,
                "role": role.value, "removed": state.removed,
            }
            if state.muted_at(now):
                entry["muted_until"] = state.muted_until_ms
            out.append(entry)
        out.sort(key=lambda e: (e["role"] != "moderator", e["name"]))
        return out

    # -- the messaging kill switch ------------------------------------------------
    async def messaging(self, member: Member, school_id: str) -> list[str]:
        self._school_admin(member, school_id)
        return [p.value for p in await self._store.messaging_suspensions(school_id)]

    async def set_messaging(
        self,
        member: Member,
        school_id: str,
        profiles: list[Profile],
        suspended: bool,
        reason: str | None,
    ) -> list[str]:
        """Suspend or resume posting for whole profiles of a school (hijacked
        accounts, a crisis): enforced by every node in the post transaction."""
        self._school_admin(member, school_id)
        now = await self._store.set_messaging_suspension(
            school_id, profiles, suspended, member.id, reason, self._clock.now_ms()
        )
        return [p.value for p in now]

    @staticmethod
    def _school_admin(member: Member, school_id: str) -> None:
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")

    # -- audit -------------------------------------------------------------------
    async def audit(self, member: Member, school_id: str, query: AuditQuery) -> dict[str, Any]:
        """A page of the school's audit log, for the school's admins only."""
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("the audit log is for the school's administrators")
        entries = await self._store.audit_entries(school_id, query)
        page = [await self._audit_fields(e) for e in entries]
        body: dict[str, Any] = {"entries": page}
        if len(entries) == query.limit and entries:
            body["next"] = entries[-1].seq
        return body

    async def _audit_fields(self, entry: AuditEntry) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": entry.id,
            "seq": entry.seq,
            "ts": entry.created_ms,
            "action": entry.action.value,
            "actor": await self._render.person(entry.actor_id),
        }
        if entry.room_id is not None:
            room = await self._directory.room(entry.room_id)
            fields["room"] = {"id": entry.room_id, "name": room.name if room else ""}
        if entry.target_person_id is not None:
            fields["target"] = await self._render.person(entry.target_person_id)
        if entry.target_seq is not None:
            fields["message_seq"] = entry.target_seq
        if entry.target_held_id is not None:
            fields["held"] = entry.target_held_id
        if entry.reason:
            fields["reason"] = entry.reason
        if entry.details:
            fields["details"] = entry.details
        if entry.content is not None:
            fields["content"] = entry.content
        return fields

    # -- retention -----------------------------------------------------------------
    async def purge_expired(self) -> int:
        """Forget audit entries and the texts kept for them past the retention period."""
        horizon = self._clock.now_ms() - self._settings.audit_retention_days * 86_400_000
        purged = await self._store.purge_moderation_records(horizon)
        if purged:
            log.info("audit retention: %d old records purged", purged)
        return purged

    async def retention_loop(self, interval_s: float = 3600.0) -> None:
        """Purge every ``interval_s`` (run as a task; every node may run it)."""
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("audit retention purge failed")
            await asyncio.sleep(interval_s)
