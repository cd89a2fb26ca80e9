"""Rewriting log records before any handler sees them, whatever logger or
library wrote them: one record factory per rewriter, installed once.

Used to redact session tokens (preau/server/log_redaction.py) and to make a store
outage one line instead of a traceback (preau/server/store/outage.py).
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


# -- background loops ----------------------------------------------------------------

# Drivers whose errors mean "the store or the broker is unreachable right now".
_OUTAGE_MODULES = ("redis.", "asyncpg.", "sqlite3")


def transient(exc: BaseException) -> bool:
    """An outage of the store or the broker (not a bug): a connection error, a
    timeout, a driver's error, or a refusal coded ``unavailable``."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError | TimeoutError) or getattr(exc, "code", None) == "unavailable":
            return True
        if type(exc).__module__.startswith(_OUTAGE_MODULES):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


class RetryLog:
    """What a background loop (the scheduler, the purges, the heartbeats, the
    broker's readers) says when an attempt fails and will be tried again: one
    warning line per failed attempt — never silence, never a traceback per
    attempt. The traceback is written once, for the first failure of a run of
    failures, and only when it is not an outage (:func:`transient`): a bug.
    The first success after failures says so, in one line."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.failures = 0

    def failed(self, exc: BaseException, retry_in: float | None = None) -> None:
        self.failures += 1
        later = f"; retrying in {retry_in:.1f} s" if retry_in is not None else "; retrying"
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.failures == 1 and not transient(exc):
            self.log.warning("%s failed (%s)%s", self.what, why, later, exc_info=exc)
        else:
            self.log.warning("%s failed (%s), attempt %d%s", self.what, why, self.failures,
                             later)

    def succeeded(self) -> None:
        if self.failures:
            self.log.warning("%s working again after %d failed attempt(s)", self.what,
                             self.failures)
            self.failures = 0
