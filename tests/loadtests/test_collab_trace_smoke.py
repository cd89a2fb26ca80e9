"""The shared-document benchmark runs end to end on a tiny scenario.

A real server process and real y-websocket sockets over loopback, a few
seconds. Speed is never asserted (the benchmark measures it): only that every
update sent in the window reached every reader, nothing was refused, and the
figures can be written to the docs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.collab_trace import BEGIN, END, Scenario, render, run, write_docs

pytestmark = pytest.mark.slow


def test_tiny_replay_delivers_every_update_and_reports(tmp_path: Path) -> None:
    scenario = Scenario(documents=2, readers=2, rate=10.0, duration=1.5, warmup=0.5,
                        full_trace=False)
    results = run(scenario, "tiny")
    assert results.errors == []
    assert results.expected > 0
    assert results.delivered == results.expected
    assert (results.refused, results.closed) == (0, 0)
    assert results.latencies_ms
    assert results.late_join_ms
    assert results.bytes_stored > 0
    report = render(results)
    assert "server CPU per delivered update" in report
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    write_docs(docs, results)
    write_docs(docs, results)  # replaces its own section
    text = docs.read_text()
    assert text.count(BEGIN) == text.count(END) == 1
