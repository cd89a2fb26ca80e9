"""Rewriting log records before any handler sees them, whatever logger or
library wrote them: one record factory per rewriter, installed once.

Used to redact session tokens (server/log_redaction.py) and to make a store
outage one line instead of a traceback (server/store/outage.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

Rewriter = Callable[[logging.LogRecord], None]

_installed: set[str] = set()


def install(name: str, rewrite: Rewriter) -> None:
    """Run ``rewrite`` on every log record of this process from now on
    (idempotent per ``name``)."""
    if name in _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        rewrite(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed.add(name)


def message_of(record: logging.LogRecord) -> str | None:
    """The record's formatted message, or None for a malformed logging call
    (left to the handler to report)."""
    try:
        return record.getMessage()
    except Exception:
        return None
