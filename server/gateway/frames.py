"""WebSocket framing of server-to-client text frames, without I/O (RFC 6455 §5.2).

A chat message fanned out to a room is framed once, and the same bytes are
written to every member's socket (as Socket.IO's adapters reuse one encoded
packet): no per-recipient re-encoding, header building or copying.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text); servers never mask


def text_frame(payload: bytes) -> bytes:
    """A complete, unfragmented, unmasked text frame carrying UTF-8 ``payload``."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_TEXT, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, length) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, length) + payload
