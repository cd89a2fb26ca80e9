"""The reading ops of ``/ws`` (docs/protocol.md, "Reading"): read markers,
receipts and announcement acknowledgements. An op module (registry.py):
parse → call the receipt service → reply."""

from __future__ import annotations

from typing import Any

from preau.server.chat.receipts import ReceiptService
from preau.server.gateway import protocol
from preau.server.gateway.registry import OpTable, op, table
from preau.server.live.connection import Connection


class ReadingOps:
    def __init__(self, receipts: ReceiptService) -> None:
        self.receipts = receipts

    def ops(self) -> OpTable:
        return table(self)

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    @op("chat.read", protocol.MessageRef)
    async def _read(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.mark_read(conn.member, p.room, p.seq)

    @op("chat.receipts", protocol.RoomReceipts)
    async def _receipts(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomReceipts)
        return await self.receipts.receipts(conn.member, p.room)

    @op("chat.my_acks", protocol.RoomReceipts)
    async def _my_acks(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomReceipts)
        return await self.receipts.my_acknowledgements(conn.member, p.room)

    @op("chat.ack", protocol.MessageRef)
    async def _ack(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.acknowledge(conn.member, p.room, p.seq)

    @op("chat.acks", protocol.MessageRef)
    async def _acks(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.acknowledgements(conn.member, p.room, p.seq)
