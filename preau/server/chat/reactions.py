"""Reactions on messages: a small fixed set of emoji, one of each per person
per message (docs/protocol.md, "Reactions").

- Who may react: whoever may read the message (else ``not_found``, exactly as
  for a message that does not exist), as the room's state allows
  (``decide_reaction``, preau/server/moderation/rules.py: nobody in a read-only
  room; readers of an announcement room if their school allows it; not while
  muted), not in a closed conversation, at the per-account rate of sends.
- Who sees what: everyone in the room sees the counts, each person their own
  reactions (``mine``); who reacted with what is for the message's author and
  the room's moderators (``chat.reactors``).
- Live on every node: a change is pushed as ``chat.reactions`` with the
  message's revision (``rev``), raised in the transaction that made the
  change; a client keeps the highest, so counts are exact whatever order the
  events arrive in. A resume with ``since`` gets the changes it missed
  (``Hub._replay``); REST history carries each message's reactions.
- A redacted message loses its reactions (the store deletes them with the
  redaction; clients drop them on ``chat.redaction``).
"""

from __future__ import annotations

from typing import Any

from preau.server import metrics
from preau.server.chat.render import MessageRenderer
from preau.server.chat.service import ChatService
from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, forbidden, not_found
from preau.server.live.channels import Audience
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.moderation.rules import RoomRole, RoomState, decide_reaction
from preau.server.ratelimit import RateLimiter
from preau.server.store.reactions import ReactionStore

# The fixed set, by name (the wire and the store use the names; clients show
# the emoji). Chosen for a class: approval, warmth, fun, surprise, sympathy,
# congratulations — nothing mocking.
REACTIONS: dict[str, str] = {
    "like": "\N{THUMBS UP SIGN}",
    "love": "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}",
    "laugh": "\N{FACE WITH TEARS OF JOY}",
    "wow": "\N{FACE WITH OPEN MOUTH}",
    "sad": "\N{CRYING FACE}",
    "bravo": "\N{CLAPPING HANDS SIGN}",
}


def _no_message() -> PreauError:
    return not_found("no such message")


class ReactionService:
    def __init__(
        self,
        store: ReactionStore,
        directory: Directory,
        hub: Hub,
        chat: ChatService,
        render: MessageRenderer,
        clock: Clock,
        limiter: RateLimiter,
    ) -> None:
        """``limiter``: reactions per account, at the rate of sends (global
        across nodes on Redis; per account, so one school's NAT is no limit)."""
        self._store = store
        self._directory = directory
        self._hub = hub
        self._chat = chat
        self._render = render
        self._clock = clock
        self._limiter = limiter

    async def close(self) -> None:
        await self._limiter.close()

    async def react(
        self, member: Member, room_id: str, seq: int, reaction: str, on: bool
    ) -> dict[str, Any]:
        """Add (``on``) or remove one of ``member``'s reactions; idempotent.
        The room first: out of reach, any input answers as for a missing room."""
        access = await self._chat.open_room(member, room_id)
        if reaction not in REACTIONS:
            raise bad_request(f"reaction is one of {', '.join(REACTIONS)}")
        room = access.room
        if room.closed:
            raise PreauError(ErrorCode.CLOSED, "this conversation is closed: it is read-only now")
        view = await self._directory.school(room.school_id)
        readers_react = view is not None and view.school.reactions_in_announcements
        refusal = decide_reaction(access.role, RoomState(access.policy, access.state),
                                  access.at_ms, readers_react)
        if refusal is not None:
            raise refusal.error()
        wait = await self._limiter.take(member.id)
        if wait is not None:
            metrics.refused("rate_limited")
            raise PreauError(ErrorCode.RATE_LIMITED, "slow down", retry_after=wait)
        change = await self._store.set_reaction(
            room.id, seq, member.id, reaction, on, self._clock.now_ms())
        if change is None:
            raise _no_message()
        counts = change.reactions
        if change.changed:
            fields = {"room": room.id, "seq": seq, "rev": counts.rev, "counts": counts.counts}
            # Counts to everyone; the reactor's own devices also learn their own.
            await self._hub.publish_ephemeral(
                room.id, event("chat.reactions", **fields), exclude=member.id)
            await self._hub.publish_to(
                room.id, event("chat.reactions", **fields, mine=list(counts.mine)),
                Audience(frozenset({member.id})))
        return {"room": room.id, "seq": seq, "reaction": reaction, "on": on,
                "reactions": counts.to_wire(), "duplicate": not change.changed}

    async def reactors(self, member: Member, room_id: str, seq: int) -> dict[str, Any]:
        """Who reacted with what: for the message's author and the room's
        moderators; others see the counts only."""
        access = await self._chat.open_room(member, room_id)
        found = await self._store.reactors(access.room.id, seq)
        if found is None:
            raise _no_message()
        sender, who = found
        if sender != member.id and access.role is not RoomRole.MODERATOR:
            raise forbidden("only its author and the room's moderators see who reacted")
        return {
            "room": access.room.id, "seq": seq,
            "reactions": {
                name: [await self._render.person(p) for p in people]
                for name, people in who.items()
            },
        }

    @staticmethod
    def catalogue() -> list[dict[str, str]]:
        return [{"name": name, "emoji": emoji} for name, emoji in REACTIONS.items()]
