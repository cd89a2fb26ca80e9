"""The notification load scenario runs, small: 40 parents, two announcements,
every parent told once per announcement and mailed (numbers: docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from loadtests.notifications import render, run

pytestmark = pytest.mark.slow


def test_notification_scenario_small() -> None:
    figures = run(1, 2, {})
    assert figures["parents"] == 40
    assert figures["notified"] == figures["expected"] == 80
    assert figures["duplicates"] == 0
    assert figures["mails"] == 80
    assert figures["mails_per_s"] > 0
    assert "one announcement to 1,000 parents" in render(figures)
