"""A store outage is an ordinary event (docs/operations.md, "Outages").

While the database cannot be reached (PostgreSQL restarting, a failover, the
network), every transaction fails fast with :class:`StoreUnavailable`: a
``PreauError`` with the code ``unavailable`` and a ``retry_after``, which the
gateway and the REST layer answer like any refusal, so clients retry a send
with the same ``txn`` (idempotent) until the store is back.

The engines decide what counts as "cannot be reached" (each knows its driver's
errors: ``preau/server/store/postgres.py``, ``preau/server/store/sqlite.py``) and report to
one :class:`OutageLog` per engine, which writes one line when the outage starts
and one when it ends. Code that logs a failure with its traceback (background
loops, ``log.exception``) while the store is down would still print one per
attempt: :func:`install` makes every log record whose exception is a
``StoreUnavailable`` a single line without a traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from preau.server import log_records, metrics
from preau.server.errors import ErrorCode, PreauError
from preau.server.log_records import message_of

log = logging.getLogger("preau.server.store")

RETRY_AFTER_S = 1.0


class StoreUnavailable(PreauError):
    """The store could not be reached: nothing was committed (or, if the
    connection died during COMMIT, maybe it was — which is why clients retry
    with the same ``txn``). Retry after ``retry_after`` seconds."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, "the store is unavailable, retry",
                         retry_after=RETRY_AFTER_S)
        self.reason = reason


class OutageLog:
    """Whether the store is down, logged once at each edge."""

    def __init__(self, what: str = "store") -> None:
        self.what = what
        self.since: float | None = None  # time.monotonic() of the first failure
        self.failures = 0
        metrics.STORE_UP.set(1)  # set at each edge: holds in multiprocess mode too

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> StoreUnavailable:
        """Record a connection failure; the error to raise instead of ``exc``."""
        reason = type(exc).__name__
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            metrics.STORE_UP.set(0)
            metrics.STORE_OUTAGES.inc()
            log.warning("%s unreachable (%s): answering unavailable until it is back",
                        self.what, reason)
        return StoreUnavailable(reason)

    def succeeded(self, started: float | None = None) -> None:
        """A transaction went through: the outage, if any, is over — unless it
        began (``started``, ``time.monotonic()``) before the outage did: one
        that was already under way when the database went away says nothing
        of now, and must not end the outage for the next failure to count a
        second one."""
        if self.since is not None and (started is None or started >= self.since):
            took = time.monotonic() - self.since
            log.warning("%s reachable again after %.1f s (%d failed attempts)",
                        self.what, took, self.failures)
            self.since = None
            self.failures = 0
            metrics.STORE_UP.set(1)

    def state(self) -> dict[str, Any]:
        """For health reports: ``{"ok": bool, "down_s": seconds or absent}``."""
        if self.since is None:
            return {"ok": True}
        return {"ok": False, "down_s": round(time.monotonic() - self.since, 1)}


def _outage_in(exc: BaseException | None) -> StoreUnavailable | None:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, StoreUnavailable):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _one_line(record: logging.LogRecord) -> None:
    info = record.exc_info
    if not isinstance(info, tuple) or (outage := _outage_in(info[1])) is None:
        return
    message = message_of(record)
    if message is None:
        return
    record.msg, record.args = f"{message}: store unavailable ({outage.reason})", None
    record.exc_info, record.exc_text = None, None
    if record.levelno > logging.WARNING:
        record.levelno, record.levelname = logging.WARNING, "WARNING"


def install() -> None:
    """Log records carrying a ``StoreUnavailable`` become one line, no traceback
    (idempotent; a record rewriter, so it holds for every logger and handler)."""
    log_records.install("store-outage", _one_line)
