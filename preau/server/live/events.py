"""Server-to-client events, encoded once (docs/protocol.md: ``{"ev": name, ...}``).

The bytes go to every recipient as they are (framed once by ``frames.py``):
services encode here, never per recipient.
"""

from __future__ import annotations

from typing import Any

import orjson


def encode(obj: dict[str, Any]) -> bytes:
    """UTF-8 JSON, as written in text frames (bytes: framed once, never re-encoded)."""
    return orjson.dumps(obj)


def event(name: str, **fields: Any) -> bytes:
    return encode({"ev": name, **fields})
