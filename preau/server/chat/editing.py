"""Editing one's own message within the room's recall window (docs/protocol.md,
"Editing a message").

- Who: the message's author, while the circle of trust lets them read the
  room (else ``not_found``, as for a room that does not exist), within the
  room's recall window, and only as they could post it now
  (``decide_edit``, preau/server/moderation/rules.py): not muted, not a
  reader, not in a read-only room or a closed conversation, not while the
  school's kill switch or their own pause is on; where their posts are
  reviewed first (pre-moderation) an edit is refused (recall and resend).
- The new text passes every check a post's text passes: its shape
  (``check_body``), the school's word filter (a blocked word refuses it; a
  word that would hold a post refuses the edit, except in a private
  conversation, where it is alerted as a post would be).
- What stays: the message keeps its seq, its reactions and its
  acknowledgements; the text it replaced goes to the audit trail only
  (``message_edits``, purged with the audit log), and the audit log records
  ``message.edit``. Editing to the same text changes nothing.
- Live on every node: ``chat.edited`` with the message's edit revision
  (``rev``); clients keep the highest, so the text is right whatever order
  the events arrive in. A resume with ``since`` gets the edits it missed
  (``Hub._replay``); history shows the latest text with ``edited``.
  Notifications are not sent again for an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from preau.server import metrics
from preau.server.chat.posting import screened, stopped_refusal
from preau.server.chat.service import ChatService, check_body
from preau.server.clock import Clock
from preau.server.directory.model import Member, Profile
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.channels import Audience
from preau.server.live.events import encode, event
from preau.server.live.hub import Hub
from preau.server.moderation import wordfilter
from preau.server.moderation.rules import (
    MemberState,
    Refusal,
    RoomRole,
    RoomState,
    decide_edit,
    effective_role,
)
from preau.server.moderation.wordfilter import FilterAction, FilterMatch
from preau.server.ratelimit import RateLimiter
from preau.server.settings import Settings
from preau.server.store import AuditAction
from preau.server.store.edits import Edit, EditStore


@dataclass(frozen=True, slots=True)
class EditResult:
    edit: Edit | None = None
    changed: bool = False
    refusal: Refusal | None = None
    alert: FilterMatch | None = None


async def edit_message(
    store: EditStore,
    room_id: str,
    seq: int,
    author_id: str,
    profile: Profile,
    moderator: bool,
    body: str,
    now_ms: int,
) -> EditResult:
    """Replace the text of message ``seq`` as ``decide_edit`` and the word
    filter allow, all read and written in one transaction (the message's row
    lock taken first)."""
    async with store.editing() as tx:
        stopped = await tx.stopped(room_id, profile, author_id)
        if stopped:
            await tx.rollback()
            return EditResult(refusal=stopped_refusal(stopped))
        message = await tx.lock(room_id, seq)
        room = await tx.room(room_id)
        if message is None or room is None or message.redacted:
            await tx.rollback()
            return EditResult(refusal=Refusal(ErrorCode.NOT_FOUND, "no such message"))
        if room.closed:
            await tx.rollback()
            return EditResult(refusal=Refusal(
                ErrorCode.CLOSED, "this conversation is closed: it is read-only now"))
        member = MemberState() if moderator else await tx.member_state(room_id, author_id)
        state = RoomState(room.policy, member)
        role = effective_role(RoomRole.MODERATOR if moderator else RoomRole.MEMBER, state)
        refusal = decide_edit(author_id, role, profile, state, message.sender_id,
                              message.created_ms, now_ms)
        if refusal is None and message.body == body:
            await tx.rollback()  # the same text: nothing to change
            return EditResult(edit=Edit(room_id, seq, body, message.edited_ms or 0,
                                        message.edit_rev))
        alert: FilterMatch | None = None
        if refusal is None and not moderator:
            found = screened(wordfilter.match(await tx.word_lists(room.school_id), body),
                             room.kind)
            if found is not None and found.action is FilterAction.BLOCK:
                refusal = Refusal(ErrorCode.FILTERED,
                                  "this message contains words this school does not allow")
            elif found is not None and found.action is FilterAction.HOLD:
                refusal = Refusal(ErrorCode.FORBIDDEN, "messages are reviewed before they "
                                  "appear here: recall it and send it again")
            elif found is not None:
                alert = found
        if refusal is not None:
            await tx.rollback()
            return EditResult(refusal=refusal)
        edit = await tx.replace(message, body, now_ms, room.head)
        await tx.audit(room.school_id, room_id, author_id, AuditAction.MESSAGE_EDIT,
                       edit.edited_ms, target_person_id=author_id, target_seq=seq,
                       details={"rev": edit.rev})
        if alert is not None:
            await tx.audit(room.school_id, room_id, author_id, AuditAction.WORD_FILTER_ALERT,
                           edit.edited_ms, target_person_id=author_id, target_seq=seq,
                           details={"words": list(alert.words), "edit": edit.rev})
    return EditResult(edit=edit, changed=True, alert=alert)


def edited_fields(edit: Edit) -> dict[str, Any]:
    """``chat.edited``'s fields (also a resume's repaint)."""
    return {"room": edit.room_id, "seq": edit.seq, "body": edit.body,
            "edited": edit.edited_ms, "rev": edit.rev}


class EditService:
    def __init__(
        self,
        store: EditStore,
        hub: Hub,
        chat: ChatService,
        settings: Settings,
        clock: Clock,
        limiter: RateLimiter,
    ) -> None:
        """``limiter``: edits per account, at the rate of sends (global across
        nodes on Redis; per account, so one school's NAT is no limit)."""
        self._store = store
        self._hub = hub
        self._chat = chat
        self._settings = settings
        self._clock = clock
        self._limiter = limiter

    async def close(self) -> None:
        await self._limiter.close()

    async def edit(self, member: Member, room_id: str, seq: int, body: str) -> dict[str, Any]:
        """Replace the text of ``member``'s message ``seq``; idempotent (the
        same text again changes nothing). The room first: out of reach, any
        input answers as for a missing room."""
        access = await self._chat.open_room(member, room_id)
        body = check_body(body, self._settings.max_message_chars)
        wait = await self._limiter.take(member.id)
        if wait is not None:
            metrics.refused("rate_limited")
            raise PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait)
        result = await edit_message(
            self._store, access.room.id, seq, member.id, member.profile,
            access.role is RoomRole.MODERATOR, body, self._clock.now_ms(),
        )
        if result.refusal is not None:
            metrics.refused(result.refusal.code.value)
            raise result.refusal.error()
        assert result.edit is not None
        fields = edited_fields(result.edit)
        if result.changed:
            await self._hub.publish_ephemeral(access.room.id, event("chat.edited", **fields))
            if result.alert is not None:
                await self._hub.publish_to(access.room.id, encode({
                    "ev": "moderation.alert", "room": access.room.id, "seq": seq,
                    "sender": member.id, "words": list(result.alert.words),
                }), Audience(moderators=True))
        return {**fields, "duplicate": not result.changed}
