"""The charter of use over ``/ws`` (docs/protocol.md, "Charter of use"): read
the school's current charter and accept it — the two ops a person who has
not accepted yet may send (the gate itself is in ``endpoint.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictInt

from preau.server.charter.service import CharterService
from preau.server.gateway import protocol
from preau.server.gateway.registry import OpTable, op, table
from preau.server.live.connection import Connection


class CharterGet(protocol.Op):
    """The school's current charter of use, and whether I accepted it."""


class CharterAccept(protocol.Op):
    """Accept the current version of the charter (``conflict`` if it is not current)."""

    version: Annotated[StrictInt, Field(ge=1, le=protocol.MAX_INT)]


class CharterOps:
    def __init__(self, charter: CharterService) -> None:
        self.charter = charter

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("charter.get", CharterGet)
    async def _get(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return await self.charter.read(conn.member)

    @op("charter.accept", CharterAccept)
    async def _accept(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, CharterAccept)
        return await self.charter.accept(conn.member, p.version)
