"""Session tokens never reach a log line.

Browsers' y-websocket providers can only pass the session token in the URL
(``/collab/doc?token=…``), and uvicorn logs WebSocket handshakes — accepted or
refused — with their full path. A log record factory rewrites every record's
message before any handler sees it, whatever logger or library wrote it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# token=…, access_token=…, in a query string or a quoted URL, up to a separator.
_TOKEN = re.compile(r"(?i)\b((?:access_)?token=)[^&\s\"'#;]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + REDACTED, text)


_installed = False


def install() -> None:
    """Redact tokens in every log record of this process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler to report
            return record
        if "token=" in message.lower():
            record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
