"""uvicorn's sans-I/O WebSocket protocol, plus one ASGI extension: ``preau.abort``.

ASGI can only close a socket with a close frame, and a close frame waits behind
whatever the client has not read. A client that stopped reading would then hold
its connection (and our buffers) until TCP gives up. ``{"type": "preau.abort"}``
drops the TCP connection at once; the gateway uses it only for slow consumers,
and falls back to a normal close when the extension is absent.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class PreauWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"]["preau.abort"] = {}

    async def send(self, message: Any) -> None:
        if message["type"] == "preau.abort":
            if not self.transport.is_closing():
                self.transport.abort()
            return
        await super().send(message)
