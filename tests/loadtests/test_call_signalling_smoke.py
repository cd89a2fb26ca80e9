"""The call signalling benchmark runs end to end on a tiny scenario.

Real server and aiortc peers over loopback, a few seconds. Speed is never
asserted (the benchmark measures it): only that every peer connected to every
other, every relayed message arrived, and the figures can be written.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests import call_signalling
from loadtests.call_signalling import BEGIN, END, Scenario, format_summary, run

pytestmark = pytest.mark.slow


def test_tiny_run_connects_everyone_and_reports(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    results = run(Scenario(groups=2, group_size=3, relay_s=0.5))
    assert (results.peers, results.connected) == (6, 6)
    assert results.relayed > 0
    assert results.lost == 0
    assert 0 < results.join_p50_ms <= results.join_p99_ms <= results.join_max_ms
    assert math.isfinite(results.relay_per_s)
    assert "join-to-connected" in format_summary(results)
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    monkeypatch.setattr(call_signalling, "DOCS", docs)
    call_signalling.write_docs(results, "tiny")
    call_signalling.write_docs(results, "tiny again")  # replaces its own section
    text = docs.read_text()
    assert text.count(BEGIN) == text.count(END) == 1
    assert "tiny again" in text
