"""The teacher's tools: room policy, pre-moderation queue, redactions, mutes,
removals, and the school's audit log.

Each action is: authorise (the actor's role, from the directory and the
room's state) → commit with its audit entry (one store transaction, which
re-checks what it must) → tell the clients concerned on every node (the hub).
Handlers (WebSocket and REST) only parse and call this layer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from preau.server.chat.render import MessageRenderer
from preau.server.chat.service import ChatService, RoomAccess
from preau.server.clock import Clock
from preau.server.directory.model import Member, Profile, RoomKind, School
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, forbidden, not_found
from preau.server.live.channels import Audience
from preau.server.live.events import encode, event
from preau.server.live.hub import Hub
from preau.server.moderation.rules import (
    MemberState,
    PolicyChange,
    RoomPolicy,
    RoomRole,
    base_role,
    check_member_target,
    check_moderator,
    mute_end,
)
from preau.server.moderation.wordfilter import WordLists
from preau.server.settings import Settings
from preau.server.store import (
    AuditAction,
    AuditEntry,
    AuditQuery,
    HeldStatus,
    Message,
    RedactResult,
    Report,
    ReportStatus,
    Store,
)

log = logging.getLogger(__name__)

AUTHOR_GONE = "its author is no longer in this room: reject it"

MODERATORS = Audience(moderators=True)

# The oversight views whose reads go to the access journal (preau/server/privacy).
VIEW_AUDIT = "moderation.audit"
VIEW_REPORTS = "moderation.reports"
VIEW_HELD = "moderation.held"
VIEW_MEMBERS = "moderation.members"  # a room's people with their mutes and removals
# The context of a report from a private conversation, read by a school admin:
# one entry per report shown (the only way anyone outside reads a conversation).
VIEW_REPORT_CONTEXT = "moderation.report_context"
# A reviewer downloading a reported message's file (AttachmentService.readable
# with a report): one entry per download, naming the report and the file.
VIEW_REPORT_ATTACHMENT = "moderation.report_attachment"

# (who read, which view, about what): the data-protection officer's journal.
ViewListener = Callable[[Member, str, str], Awaitable[None]]
CONTEXT = 3  # messages shown before and after a reported one


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
        self._view_listeners: list[ViewListener] = []
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
    def on_view(self, listener: ViewListener) -> None:
        """Call ``listener`` after every read of an oversight view (the held
        queue, a room's members, reports, the audit log), over REST or /ws."""
        self._view_listeners.append(listener)

    async def _viewed(self, member: Member, view: str, subject: str) -> None:
        for listener in self._view_listeners:
            await listener(member, view, subject)

    async def held(self, member: Member, room_id: str) -> list[dict[str, Any]]:
        """Moderators: the room's pending messages. Others: their own pending
        and rejected ones (so an author learns why, even after reconnecting)."""
        access = await self._chat.open_room(member, room_id)
        await self._viewed(member, VIEW_HELD, access.room.id)
        if access.role is RoomRole.MODERATOR:
            held = await self._store.held_messages(access.room.id)
        else:
            held = await self._store.held_messages(
                access.room.id, sender_id=member.id,
                statuses=(HeldStatus.PENDING, HeldStatus.REJECTED), newest=True,
            )
        return [await self._render.held_fields(h) for h in held]

    async def decide(
        self, member: Member, room_id: str, held_id: str, approve: bool, reason: str | None
    ) -> dict[str, Any]:
        access = await self._moderating(member, room_id)
        room = access.room.id
        if approve:
            # Its author may have left the room since (a class move, a custody
            # change, a removal): their words are not posted where they may
            # no longer read; the moderator rejects it instead.
            held_now = await self._store.held_message(room, held_id)
            if (held_now is not None and held_now.status is HeldStatus.PENDING
                    and not await self._chat.may_still_post(held_now.sender_id, room)):
                raise PreauError(ErrorCode.CONFLICT, AUTHOR_GONE)
        try:
            result = await self._store.decide_held(
                room, held_id, member.id, approve, reason, "m_" + secrets.token_urlsafe(12),
                self._clock.now_ms(), await self._chat.post_options(member),
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
                if self._chat.notices is not None:
                    await self._chat.notices.posted_now(message.room_id, message.seq)
                    await self._chat.notices.about_room(
                        "held.approved", room, seq=message.seq, actor_id=member.id,
                        to=[held.sender_id])
            elif result.scheduled is not None:  # approved during quiet hours
                waiting = result.scheduled
                await self._hub.publish_to(room, event(
                    "chat.approved", room=room, id=held.id, by=by,
                    deliver_at=waiting.release_ms), audience)
                await self._hub.publish_to(room, encode({
                    "ev": "chat.scheduled", **await self._render.scheduled_fields(waiting)
                }), audience)
            else:
                fields: dict[str, Any] = {"room": room, "id": held.id, "by": by}
                if reason:
                    fields["reason"] = reason
                await self._hub.publish_to(room, encode({"ev": "chat.rejected", **fields}),
                                           audience)
                if self._chat.notices is not None:
                    await self._chat.notices.about_room(
                        "held.rejected", room, actor_id=member.id, to=[held.sender_id],
                        data={"held": held.id})
        fields = {"held": await self._render.held_fields(held), "duplicate": not result.changed}
        if result.scheduled is not None:
            fields["deliver_at"] = result.scheduled.release_ms
        return fields

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
            await self._publish_redaction(result)
            if access.role is RoomRole.MODERATOR and result.author_id != member.id:
                # Deleted from the room: its open reports are settled too.
                resolved = await self._store.resolve_message_reports(
                    access.room.id, seq, member.id, ReportStatus.DELETED, self._clock.now_ms())
                await self._tell_reporters(resolved, ReportStatus.DELETED)
        return result.event, result.created

    async def _tell_reporters(self, resolved: list[Report], outcome: ReportStatus) -> None:
        for done in resolved:
            await self._hub.publish_to(done.room_id, event(
                "report.resolved", room=done.room_id, report=done.id, seq=done.seq,
                outcome=outcome.value), Audience(frozenset({done.reporter_id})))
            if self._chat.notices is not None:
                await self._chat.notices.about_room(
                    "report.resolved", done.room_id, seq=done.seq, to=[done.reporter_id],
                    data={"report": done.id, "outcome": outcome.value})

    async def _publish_redaction(self, result: RedactResult) -> None:
        """The redaction to every subscriber (no reason), then its reason to
        the removed message's author and the moderators only."""
        redaction = result.event
        assert redaction is not None
        room = redaction.room_id
        await self._hub.publish_message(room, redaction.seq, await self._render.frame(redaction))
        if self._chat.notices is not None and redaction.redacts is not None:
            # Deleted or recalled: what told people of it goes too (live as well).
            await self._chat.notices.withdraw(room, redaction.redacts)
        if redaction.reason:
            people = frozenset({result.author_id}) if result.author_id else frozenset()
            await self._hub.publish_to(room, event(
                "chat.redaction_reason", room=room, seq=redaction.seq,
                redacts=redaction.redacts, reason=redaction.reason,
            ), Audience(people, moderators=True))

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
        await self._viewed(member, VIEW_MEMBERS, room.id)
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

    # -- school settings -----------------------------------------------------------
    async def school_settings(self, member: Member, school_id: str) -> dict[str, Any]:
        self._school_admin(member, school_id)
        return _settings_wire(await self._store.school_settings(school_id))

    async def set_school_settings(
        self,
        member: Member,
        school_id: str,
        *,
        quiet_hours: str | None,
        parents_may_message: bool | None,
        reactions_in_announcements: bool | None = None,
        staff_presence_to_parents: bool | None = None,
        attachment_kinds: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Quiet hours (the delivery window, or ``off``) and whether parents of
        a class may write to each other; audited, and in force on every node
        once it reloads the school's directory (at once here and through the
        broker; at the latest after PREAU_DIRECTORY_POLL_S)."""
        self._school_admin(member, school_id)
        school = await self._store.set_school_settings(
            school_id, member.id, self._clock.now_ms(),
            quiet_hours=quiet_hours, parents_may_message=parents_may_message,
            reactions_in_announcements=reactions_in_announcements,
            staff_presence_to_parents=staff_presence_to_parents,
            attachment_kinds=attachment_kinds,
        )
        await self._hub.directory_changed(school_id)
        return _settings_wire(school)

    # -- paused accounts ------------------------------------------------------------
    async def paused(self, member: Member, school_id: str) -> list[dict[str, Any]]:
        """Accounts paused by the burst detector, for the school's admins."""
        self._school_admin(member, school_id)
        return [
            {"person": await self._render.person(p.person_id), "ts": p.paused_ms,
             "reason": p.reason, **p.details}
            for p in await self._store.paused_accounts(school_id)
        ]

    async def resume_account(
        self, member: Member, school_id: str, person_id: str, reason: str | None
    ) -> bool:
        """Let a paused account post again (admins, audited); False if it was not paused."""
        self._school_admin(member, school_id)
        resumed = await self._store.resume_account(person_id, school_id, member.id, reason,
                                                   self._clock.now_ms())
        if resumed:  # a fresh start: the rooms that made the burst count no more
            await self._chat.forget_spread(person_id)
        return resumed

    # -- the word filter -----------------------------------------------------------
    async def word_filter(self, member: Member, school_id: str) -> dict[str, list[str]]:
        self._school_admin(member, school_id)
        return (await self._store.word_lists(school_id)).to_wire()

    async def set_word_filter(
        self, member: Member, school_id: str, lists: WordLists
    ) -> dict[str, list[str]]:
        """Replace the school's three lists (audited): applied by every node's
        next post, since the post transaction reads them."""
        self._school_admin(member, school_id)
        await self._store.set_word_lists(school_id, lists, member.id, self._clock.now_ms())
        return lists.to_wire()

    # -- reports -------------------------------------------------------------------
    async def report(
        self, member: Member, room_id: str, seq: int, reason: str | None
    ) -> dict[str, Any]:
        """Any member of the room reports one of its messages to the moderators."""
        access = await self._chat.open_room(member, room_id)
        made = await self._store.create_report(
            "rp_" + secrets.token_urlsafe(12), access.room.id, seq, member.id, reason,
            self._clock.now_ms(),
        )
        if made is None:
            raise not_found("no such message")
        report, created = made
        return {"report": await self._report_fields(report, to_reporter=True),
                "duplicate": not created}

    async def reports(self, member: Member, school_id: str) -> list[dict[str, Any]]:
        """The open reports of the rooms ``member`` moderates (all of them for
        the school's admins), each with the message and a few around it: the
        only way a moderator reads a room they are not in."""
        if member.school_id != school_id or not (
            member.is_admin or member.profile in (Profile.STAFF, Profile.TEACHER)
        ):
            raise forbidden("reports are for the school's moderators")
        await self._viewed(member, VIEW_REPORTS, school_id)
        out = []
        for report in await self._store.reports(school_id):
            if await self._may_resolve(member, report):
                out.append(await self._report_fields(report, context=True, reader=member))
        return out

    async def resolve_report(
        self, member: Member, report_id: str, delete: bool, reason: str | None,
        school_id: str | None = None,
    ) -> dict[str, Any]:
        """Keep or delete (the usual redaction) a reported message; every open
        report of it is resolved, audited, and each reporter told. A
        ``school_id`` (REST names it) other than ``member``'s: no such report."""
        if school_id is not None and school_id != member.school_id:
            raise not_found("no such report")
        report = await self._store.report(report_id)
        # A report one may not resolve answers as an unknown one (its
        # existence would tell of a message, a room, a reporter); only its
        # own reporter, who knows of it, is told it is not theirs to resolve.
        if report is None or not await self._may_resolve(member, report):
            if report is not None and report.reporter_id == member.id:
                raise forbidden("only the room's moderators resolve this report")
            raise not_found("no such report")
        wanted = ReportStatus.DELETED if delete else ReportStatus.KEPT
        if report.status is not ReportStatus.OPEN:
            if report.status is not wanted:
                raise PreauError(ErrorCode.CONFLICT, f"this report was already {report.status}")
            return {"report": await self._report_fields(report), "duplicate": True}
        now = self._clock.now_ms()
        if delete:
            result = await self._store.redact_message(
                report.room_id, report.seq, member.id, True, reason,
                "r_" + secrets.token_urlsafe(12), now,
            )
            if result.refusal is not None:
                raise result.refusal.error()
            assert result.event is not None
            if result.created:
                await self._publish_redaction(result)
        resolved = await self._store.resolve_report(report.id, member.id, wanted, now)
        await self._tell_reporters(resolved, wanted)
        final = next((r for r in resolved if r.id == report.id), None)
        if final is None:  # resolved meanwhile by someone else
            return await self.resolve_report(member, report_id, delete, reason)
        return {"report": await self._report_fields(final), "duplicate": False}

    async def my_reports(self, member: Member) -> list[dict[str, Any]]:
        """The reports ``member`` made and their outcome (never the context:
        the reporter saw the message in the room already)."""
        return [await self._report_fields(r, to_reporter=True)
                for r in await self._store.reports_by(member.id)]

    async def may_review(
        self, member: Member, report_id: str, room_id: str, seq: int, attachment_id: str
    ) -> bool:
        """Whether ``member`` may read a file of message ``seq`` of ``room_id``
        for reviewing report ``report_id``: the report is about that message,
        still open, and ``member`` may resolve it (the room's moderators, the
        school's admins). Each read granted is journaled (who, which report,
        which file); the file service asks only when its room's rights do not
        let ``member`` read it already."""
        report = await self._store.report(report_id)
        if (report is None or report.status is not ReportStatus.OPEN
                or report.room_id != room_id or report.seq != seq
                or not await self._may_resolve(member, report)):
            return False
        await self._viewed(member, VIEW_REPORT_ATTACHMENT,
                           f"report={report.id}&attachment={attachment_id}")
        return True

    async def _may_resolve(self, member: Member, report: Report) -> bool:
        if member.school_id != report.school_id:
            return False
        if member.is_admin:
            return True
        room = await self._directory.room(report.room_id)
        return room is not None and base_role(member, room) is RoomRole.MODERATOR

    async def _report_fields(
        self, report: Report, context: bool = False, reader: Member | None = None,
        *, to_reporter: bool = False,
    ) -> dict[str, Any]:
        """A report as clients see it; ``context``: with the message and the
        messages around it — only what its reporter could see when reporting
        (up to ``context_to``, the room's last seq then), never later ones.
        ``to_reporter``: as its reporter reads it, who is told the outcome,
        never which moderator decided (as in ``report.resolved``)."""
        room = await self._directory.room(report.room_id)
        fields: dict[str, Any] = {
            "id": report.id,
            "room": {"id": report.room_id, "name": room.name if room else ""},
            "seq": report.seq,
            "reporter": await self._render.person(report.reporter_id),
            "ts": report.created_ms,
            "status": report.status.value,
        }
        if report.reason:
            fields["reason"] = report.reason
        if report.resolved_by is not None and not to_reporter:
            fields["resolved_by"] = await self._render.person(report.resolved_by)
        if context:
            if reader is not None and room is not None and room.kind is RoomKind.PRIVATE:
                # A conversation is read by nobody outside it: each read of
                # one's context (a school admin's) goes to the access journal.
                await self._viewed(reader, VIEW_REPORT_CONTEXT,
                                   f"report={report.id}&room={report.room_id}")
            # Everything up to the report was readable by the reporter (the
            # room's whole history: a conversation's people are there from
            # its opening); what came after the report never is shown.
            top = report.seq if report.context_to is None else report.context_to
            before = await self._store.messages_before(report.room_id, report.seq, CONTEXT)
            after = await self._store.messages_after(
                report.room_id, report.seq - 1, min(CONTEXT + 1, top - report.seq + 1))
            shown = [m for m in [*before, *after] if m.seq <= top]
            reported = next((m for m in shown if m.seq == report.seq), None)
            if reported is not None and reported.redacted_by_seq is not None \
                    and reported.redacted_by_seq > top:
                # Removed since: how (recalled or deleted, and why), never what came between.
                shown += [m for m in await self._store.messages_after(
                    report.room_id, reported.redacted_by_seq - 1, 1)
                    if m.redacts == report.seq]
            entries = [await self._render.entry(m, reason=True) for m in shown]
            fields["message"] = next(
                (e for e in entries if e.get("seq") == report.seq), None)
            fields["context"] = entries
        return fields

    @staticmethod
    def _school_admin(member: Member, school_id: str) -> None:
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")

    # -- audit -------------------------------------------------------------------
    async def audit(self, member: Member, school_id: str, query: AuditQuery) -> dict[str, Any]:
        """A page of the school's audit log, for the school's admins only."""
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("the audit log is for the school's administrators")
        await self._viewed(member, VIEW_AUDIT, query.describe())
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



def _settings_wire(school: School) -> dict[str, Any]:
    return {"quiet_hours": school.quiet_hours, "timezone": school.timezone,
            "parents_may_message": school.parents_may_message,
            "reactions_in_announcements": school.reactions_in_announcements,
            "staff_presence_to_parents": school.staff_presence_to_parents,
            # None: the deployment's kinds (PREAU_ATTACHMENT_KINDS)
            "attachment_kinds": None if school.attachment_kinds is None
            else sorted(school.attachment_kinds)}
