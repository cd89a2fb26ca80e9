"""uvicorn's httptools protocol, with deadlines on reading a request.

uvicorn arms its keep-alive timer only after a response: a connection that
never sends a request, or sends its head or body a byte at a time, is held
forever (400 such connections were all still open after 35 s). Here a request's
head must arrive within ``head_timeout_s`` of the connection or of the
previous response, and its body within ``body_timeout_s`` of its head; else
the connection is closed. WebSocket upgrades are untouched once upgraded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def deadline_protocol(head_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn's ``http`` setting."""

    class PreauHttpProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(head_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(body_timeout_s)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm()
            super().handle_websocket_upgrade()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                # The next request's head; uvicorn's keep-alive timer also runs.
                self._arm(head_timeout_s)

    return PreauHttpProtocol
