"""uvicorn's httptools protocol, with deadlines on reading a request.

uvicorn arms its keep-alive timer only after a response: a connection that
never sends a request, or sends its head or body a byte at a time, is held
forever (400 such connections were all still open after 35 s). Here a request's
head must arrive within ``head_timeout_s`` of the connection or of the
previous response; else the connection is closed. Its body must keep coming:
never ``body_timeout_s`` without a byte, and, past its first
``body_timeout_s``, at least ``MIN_BODY_BYTES_PER_S`` on average since the
head (a 20 MiB file over a school's shared uplink takes minutes; a trickle
to hold the connection does not). Else the request is answered 408 with a
JSON error, then the connection is closed. WebSocket upgrades are untouched
once upgraded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MIN_BODY_BYTES_PER_S = 1024
_TIMEOUT_BODY = b'{"error":{"code":"bad_request","message":"the request body stopped arriving"}}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\nconnection: close\r\n\r\n"
    + _TIMEOUT_BODY
)


def deadline_protocol(head_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn's ``http`` setting."""

    class PreauHttpProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _body_since: float | None = None  # loop time of the head, while its body comes
        _body_bytes = 0

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = getattr(self, "cycle", None)
            if self._body_since is not None and cycle is not None \
                    and not cycle.response_started:
                # Told why, before the close (the app's own answer, if it
                # comes, finds the connection gone).
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(head_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._body_since, self._body_bytes = self.loop.time(), 0
            self._arm(body_timeout_s)

        def on_body(self, body: bytes) -> None:
            super().on_body(body)
            if self._body_since is None:
                return
            self._body_bytes += len(body)
            elapsed = self.loop.time() - self._body_since
            if elapsed <= body_timeout_s or self._body_bytes >= MIN_BODY_BYTES_PER_S * elapsed:
                self._arm(body_timeout_s)  # still coming: the next byte within the timeout

        def on_message_complete(self) -> None:
            self._disarm()
            self._body_since = None
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm()
            self._body_since = None
            super().handle_websocket_upgrade()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                # The next request's head; uvicorn's keep-alive timer also runs.
                self._arm(head_timeout_s)

    return PreauHttpProtocol
