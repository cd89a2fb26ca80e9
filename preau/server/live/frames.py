"""WebSocket framing of server-to-client frames, without I/O (RFC 6455 §5.2).

A chat message fanned out to a room is framed once, and the same bytes are
written to every member's socket (as Socket.IO's adapters reuse one encoded
packet): no per-recipient re-encoding, header building or copying.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text); servers never mask
_FIN_BINARY = 0x82  # FIN bit + opcode 2 (binary)


def _frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def text_frame(payload: bytes) -> bytes:
    """A complete, unfragmented, unmasked text frame carrying UTF-8 ``payload``."""
    return _frame(_FIN_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    """The same for a binary frame (``/collab``'s y-websocket messages)."""
    return _frame(_FIN_BINARY, payload)
