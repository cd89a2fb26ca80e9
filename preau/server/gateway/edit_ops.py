"""The edit op of ``/ws`` (docs/protocol.md, "Editing a message"): parse →
call the edit service → reply. ``chat.edit`` is idempotent (the same text
again changes nothing)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictStr

from preau.server.chat.editing import EditService
from preau.server.gateway.protocol import Op, Request, RoomId, Seq
from preau.server.gateway.registry import OpTable, models, op, table
from preau.server.live.connection import Connection


class ChatEdit(Op):
    """Replace the text of my message ``seq`` (within the room's recall window)."""

    room: RoomId
    seq: Seq
    body: Annotated[StrictStr, Field(min_length=1)]


class EditOps:
    def __init__(self, edits: EditService) -> None:
        self.edits = edits

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("chat.edit", ChatEdit)
    async def _edit(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, ChatEdit)
        return await self.edits.edit(conn.member, p.room, p.seq, p.body)


OPS = models(EditOps)
