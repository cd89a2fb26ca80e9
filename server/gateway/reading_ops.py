"""The reading ops of ``/ws`` (docs/protocol.md, "Reading"): read markers,
receipts and announcement acknowledgements. An op module (extension.py):
parse → call the receipt service → reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.chat.receipts import ReceiptService
from server.gateway import protocol
from server.gateway.connection import Connection
from server.gateway.extension import Handler


class ReadingOps:
    def __init__(self, receipts: ReceiptService) -> None:
        self.receipts = receipts

    def ops(self) -> Mapping[str, type[protocol.Op]]:
        return {
            "chat.read": protocol.MessageRef,
            "chat.receipts": protocol.RoomReceipts,
            "chat.ack": protocol.MessageRef,
            "chat.acks": protocol.MessageRef,
            "chat.my_acks": protocol.RoomReceipts,
        }

    def handlers(self) -> Mapping[str, Handler]:
        return {
            "chat.read": self._read,
            "chat.receipts": self._receipts,
            "chat.ack": self._ack,
            "chat.acks": self._acks,
            "chat.my_acks": self._my_acks,
        }

    async def on_disconnect(self, conn: Connection) -> None:
        return None

    async def _read(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.mark_read(conn.member, p.room, p.seq)

    async def _receipts(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomReceipts)
        return await self.receipts.receipts(conn.member, p.room)

    async def _my_acks(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.RoomReceipts)
        return await self.receipts.my_acknowledgements(conn.member, p.room)

    async def _ack(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.acknowledge(conn.member, p.room, p.seq)

    async def _acks(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        p = request.params
        assert isinstance(p, protocol.MessageRef)
        return await self.receipts.acknowledgements(conn.member, p.room, p.seq)
