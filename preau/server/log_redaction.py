"""Session tokens never reach a log line.

Browsers' y-websocket providers can only pass the session token in the URL
(``/collab/doc?token=…``), and uvicorn logs WebSocket handshakes — accepted or
refused — with their full path. A log record factory rewrites every record's
message before any handler sees it, whatever logger or library wrote it
(preau/server/log_records.py).
"""

from __future__ import annotations

import logging
import re

from preau.server import log_records
from preau.server.log_records import message_of

# token=…, access_token=…, in a query string or a quoted URL, up to a separator.
_TOKEN = re.compile(r"(?i)\b((?:access_)?token=)[^&\s\"'#;]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_record(record: logging.LogRecord) -> None:
    message = message_of(record)
    if message is not None and "token=" in message.lower():
        record.msg, record.args = redact(message), None


def install() -> None:
    """Redact tokens in every log record of this process (idempotent)."""
    log_records.install("redact-tokens", _redact_record)
