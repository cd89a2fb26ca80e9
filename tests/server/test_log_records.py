"""Background loops say when an attempt fails, once per attempt, without a
traceback storm (preau/server/log_records.py, :class:`RetryLog`)."""

from __future__ import annotations

import logging

import pytest

from preau.server.log_records import RetryLog, transient
from preau.server.store.outage import StoreUnavailable


def failing(exc: Exception) -> Exception:
    """``exc`` raised and caught, with its traceback."""
    try:
        raise exc
    except Exception as caught:
        return caught


def test_an_outage_is_one_warning_line_per_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retries = RetryLog(logging.getLogger("tests.loop"), "scheduled delivery")
    with caplog.at_level(logging.INFO, "tests.loop"):
        for _ in range(3):
            retries.failed(failing(StoreUnavailable("ConnectionRefusedError")), 1.0)
        retries.succeeded()
        retries.succeeded()  # nothing more to say
    lines = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert [level for level, _, _ in lines] == ["WARNING"] * 4
    assert all(info is None for _, _, info in lines), "a traceback for an outage"
    assert lines[0][1] == ("scheduled delivery failed (StoreUnavailable: the store is "
                           "unavailable, retry), attempt 1; retrying in 1.0 s")
    assert lines[2][1].startswith("scheduled delivery failed (StoreUnavailable")
    assert "attempt 3" in lines[2][1]
    assert lines[3][1] == "scheduled delivery working again after 3 failed attempt(s)"


def test_a_bug_shows_its_traceback_once_per_run_of_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retries = RetryLog(logging.getLogger("tests.loop"), "retention pass")
    with caplog.at_level(logging.INFO, "tests.loop"):
        for _ in range(3):
            retries.failed(failing(KeyError("rooms")))
        retries.succeeded()
        retries.failed(failing(KeyError("rooms")))
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(caplog.records) == 5
    assert [caplog.records.index(r) for r in with_traceback] == [0, 4]
    assert all(r.levelname == "WARNING" for r in caplog.records)


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "refused"), TimeoutError(), StoreUnavailable("x"),
])
def test_outages_are_transient(exc: Exception) -> None:
    assert transient(exc)


def test_a_driver_error_behind_another_is_transient() -> None:
    import redis.exceptions

    outer = RuntimeError("presence refresh")
    outer.__cause__ = redis.exceptions.ConnectionError("Connection reset by peer")
    assert transient(outer)
    assert not transient(ValueError("a bug"))
