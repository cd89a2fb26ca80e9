"""Session tokens and client addresses never reach a log line.

Browsers' y-websocket providers can only pass the session token in the URL
(``/collab/doc?token=…``), and uvicorn logs WebSocket handshakes — accepted or
refused — with their full path. A log record factory rewrites every record's
message before any handler sees it, whatever logger or library wrote it
(preau/server/log_records.py). uvicorn also starts each handshake's line
with the client's address and port (from ``X-Forwarded-For`` behind a
proxy): a person's IP address, personal data no retention covers
(docs/data-protection.md), replaced by ``client``.
"""

from __future__ import annotations

import logging
import re

from preau.server import log_records
from preau.server.log_records import message_of

# token=…, access_token=…, in a query string or a quoted URL, up to a separator.
_TOKEN = re.compile(r"(?i)\b((?:access_)?token=)[^&\s\"'#;]+")
REDACTED = "[redacted]"
# "203.0.113.9:51234 - ", "[2001:db8::1]:443 - ": uvicorn's "%s - " prefix.
_CLIENT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+):\d+ - ")


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_record(record: logging.LogRecord) -> None:
    message = message_of(record)
    if message is None:
        return
    redacted = _CLIENT.sub("client - ", message)
    if "token=" in redacted.lower():
        redacted = redact(redacted)
    if redacted != message:
        record.msg, record.args = redacted, None


def install() -> None:
    """Redact tokens in every log record of this process (idempotent)."""
    log_records.install("redact-tokens", _redact_record)
