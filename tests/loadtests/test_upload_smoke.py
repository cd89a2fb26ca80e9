"""The attachments upload scenario runs, small (numbers: docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from loadtests.upload import render, run

pytestmark = pytest.mark.slow


async def test_upload_scenario_small() -> None:
    figures = await run(3, 300_000, "", "")
    assert figures["uploads_per_s"] > 0
    assert figures["states"] == ["pending"]  # no antivirus here: held, never ready
    assert figures["visible_p99_ms"] >= figures["visible_p50_ms"] > 0
    assert figures["rss_peak_mib"] >= figures["rss_before_mib"]
    assert "3 pupils each upload" in render(figures)
