"""The data-protection load scenario runs, small (numbers: docs/benchmarks.md)."""

from __future__ import annotations

from loadtests.privacy import render, run


async def test_privacy_scenario_small() -> None:
    figures = await run(500, None)
    assert figures["rollover_closed"] == 250
    assert figures["rollover_created"] == 251  # 250 new pupils, the erased one back
    assert figures["rollover_archived"] == 40
    assert figures["retention"]["messages"] == 500
    assert figures["retention"]["erasures_run"] == 250
    assert "export of a pupil who wrote 500 messages" in render(figures)
