"""uvicorn's sans-I/O WebSocket protocol, plus two ASGI extensions.

``preau.abort``: ASGI can only close a socket with a close frame, and a close
frame waits behind whatever the client has not read. A client that stopped
reading would then hold its connection (and our buffers) until TCP gives up.
``{"type": "preau.abort"}`` drops the TCP connection at once; the gateway uses
it only for slow consumers.

``preau.write``: ``scope["extensions"]["preau.write"]["write"](frame)`` writes
an already-framed text message synchronously if the socket is open and
writable, and returns whether it did. A fan-out then costs one
``transport.write`` per recipient, with no coroutine, task switch or
re-encoding (the frame is built once per message: gateway/frames.py).

The gateway falls back to plain ASGI when the extensions are absent (another
server), so they are optimisations, never requirements.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State


class PreauWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"]["preau.abort"] = {}
        self.scope["extensions"]["preau.write"] = {"write": self.write_frame}

    def send_receive_event_to_app(self) -> None:
        # uvicorn logs a traceback for a text frame that is not UTF-8; it is
        # bad input, not a server fault: one line, then close 1007 as RFC 6455 says.
        if self.curr_msg_data_type == "text" and not self.close_sent and self.frames:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                self.logger.warning("%s - invalid UTF-8 in a text frame: closing (1007)",
                                    "{}:{}".format(*self.client) if self.client else "client")
                self.conn.send_close(1007, "invalid UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def write_frame(self, frame: bytes) -> bool:
        # Only between the accept and any close, and only while the transport
        # is under its high-water mark: otherwise the caller queues the frame
        # and its writer waits for ``writable`` like any ASGI send.
        if (
            not self.handshake_complete
            or self.close_sent
            or self.conn.state is not State.OPEN
            or self.conn.expect_continuation_frame
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: Any) -> None:
        if message["type"] == "preau.abort":
            if not self.transport.is_closing():
                self.transport.abort()
            return
        await super().send(message)
