"""The ``mood.*`` ops of ``/ws`` (docs/protocol.md, "Mood of the day"): parse →
call the mood service → reply. The class's level is set over REST only."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictStr

from preau.server.gateway.protocol import Id, Op, Request
from preau.server.gateway.registry import OpTable, models, op, table
from preau.server.live.connection import Connection
from preau.server.mood.service import MoodService

Picture = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class MoodGet(Op):
    """The pictures, my own picks, the boards I see, my children's picks."""


class MoodSet(Op):
    """Today's pictures (one or more questions)."""

    mood: Picture | None = None
    night: Picture | None = None
    breakfast: Picture | None = None


class MoodBoard(Op):
    klass: Id = Field(alias="class")


class MoodPerson(Op):
    person: Id


class MoodOps:
    def __init__(self, mood: MoodService) -> None:
        self.mood = mood

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("mood.get", MoodGet)
    async def _get(self, conn: Connection, request: Request) -> dict[str, Any]:
        return await self.mood.summary(conn.member)

    @op("mood.set", MoodSet)
    async def _set(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, MoodSet)
        picks = {k: v for k, v in p.model_dump().items() if v is not None}
        return await self.mood.pick(conn.member, picks)

    @op("mood.board", MoodBoard)
    async def _board(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, MoodBoard)
        return await self.mood.board(conn.member, p.klass)

    @op("mood.person", MoodPerson)
    async def _person(self, conn: Connection, request: Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, MoodPerson)
        return await self.mood.of_person(conn.member, p.person)


OPS = models(MoodOps)
