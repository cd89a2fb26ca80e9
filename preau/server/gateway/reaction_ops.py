"""The reaction ops of ``/ws`` (docs/protocol.md, "Reactions"): parse → call
the reaction service → reply. ``chat.react`` and ``chat.unreact`` are
idempotent; ``chat.reactors`` is for a message's author and moderators."""

from __future__ import annotations

from typing import Any, Literal

from preau.server.chat.reactions import ReactionService
from preau.server.gateway.protocol import MessageRef, Op, Request, RoomId, Seq
from preau.server.gateway.registry import OpTable, models, op, table
from preau.server.live.connection import Connection

# The fixed set (preau/server/chat/reactions.py, REACTIONS): anything else is a
# bad_request at parsing, with the op's schema saying which names exist.
ReactionName = Literal["like", "love", "laugh", "wow", "sad", "bravo"]


class ReactionSet(Op):
    """Add (``chat.react``) or remove (``chat.unreact``) one of my reactions."""

    room: RoomId
    seq: Seq
    reaction: ReactionName


class ReactionOps:
    def __init__(self, reactions: ReactionService) -> None:
        self.reactions = reactions

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("chat.react", ReactionSet)
    async def _react(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, ReactionSet)
        return await self.reactions.react(conn.member, p.room, p.seq, p.reaction, True)

    @op("chat.unreact", ReactionSet)
    async def _unreact(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, ReactionSet)
        return await self.reactions.react(conn.member, p.room, p.seq, p.reaction, False)

    @op("chat.reactors", MessageRef)
    async def _reactors(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, MessageRef)
        return await self.reactions.reactors(conn.member, p.room, p.seq)


OPS = models(ReactionOps)
