"""The side-by-side document benchmark runs every server on a tiny scenario.

Préau, Hocuspocus, the y-websocket reference server and pycrdt-websocket,
each started for real on a loopback port and driven by the same y-websocket
clients for a second. Speed is never asserted (the benchmark measures it):
only that each server got every update sent in the window to every reader,
relayed the bytes the writer sent, that its CPU was read, and that a late
joiner got the whole (shortened) trace.
"""

from __future__ import annotations

import shutil

import pytest

from loadtests.collab_peers import BEGIN, END, SERVERS, Scenario, render, run_all

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("npm") is None, reason="the Node peers need Node.js and npm")
def test_every_server_relays_every_update_side_by_side() -> None:
    scenario = Scenario(documents=2, readers=2, rate=10.0, duration=1.0, warmup=0.5,
                        full_trace_keystrokes=2000)
    runs = run_all(scenario, SERVERS, rounds=1)
    assert [r.server for r in runs] == list(SERVERS)
    for run in runs:
        assert run.errors == [], run.server
        assert run.expected > 0, run.server
        assert run.delivered == run.expected, run.server
        assert run.cpu_s > 0, run.server
        assert run.late_join_ok, run.server
    report = render(scenario, runs, "tiny", "abc1234")
    assert report.startswith(BEGIN)
    assert report.rstrip().endswith(END)
    assert report.count("| hocuspocus |") == 1
