"""The Janus API's envelope and VideoRoom replies, without I/O.

Janus answers a request in one of three ways (docs of janus-gateway, "RESTful,
WebSockets, … API"): ``success`` (synchronous, with ``data`` or
``plugindata``), ``ack`` (the plugin answers later, as an ``event`` carrying
the same ``transaction``, delivered on the session's long poll), or ``error``.
VideoRoom reports its own failures inside ``plugindata`` with
``"videoroom": "event"`` and ``error_code``/``error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# VideoRoom error codes that mean "what you named does not exist"
# (janus_videoroom.c: JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM, _NO_SUCH_FEED, …).
NO_SUCH_ROOM = 426
NO_SUCH_FEED = 428
ROOM_EXISTS = 427
ID_EXISTS = 436
MISSING = frozenset({NO_SUCH_ROOM, NO_SUCH_FEED})
# Core error codes: no such session / no such handle.
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459


class JanusError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Janus error {code}: {message}")
        self.code = code
        self.reason = message


@dataclass(frozen=True, slots=True)
class PluginReply:
    """What a plugin answered: its ``data`` and, for offers/answers, the JSEP."""

    data: dict[str, Any]
    jsep: dict[str, Any] | None


def parse_plugin_reply(message: dict[str, Any]) -> PluginReply:
    """A ``success`` or ``event`` message → the plugin's reply, or raise.

    Raises :class:`JanusError` for a core ``error`` or a VideoRoom error."""
    kind = message.get("janus")
    if kind == "error":
        err = message.get("error") or {}
        raise JanusError(int(err.get("code", 0)), str(err.get("reason", "unknown")))
    plugindata = message.get("plugindata")
    if not isinstance(plugindata, dict) or not isinstance(plugindata.get("data"), dict):
        raise JanusError(0, f"unexpected reply {kind!r} without plugin data")
    data: dict[str, Any] = plugindata["data"]
    if "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error", "")))
    jsep = message.get("jsep")
    return PluginReply(data, jsep if isinstance(jsep, dict) else None)


def stream_kinds(streams: object) -> dict[str, str]:
    """VideoRoom's ``streams`` list → {mid: "audio"|"video"} (data channels dropped)."""
    found: dict[str, str] = {}
    if not isinstance(streams, list):
        return found
    for s in streams:
        if not isinstance(s, dict) or s.get("disabled"):
            continue
        mid, kind = s.get("mid"), s.get("type")
        if isinstance(mid, str) and kind in ("audio", "video"):
            found[mid] = kind
    return found
