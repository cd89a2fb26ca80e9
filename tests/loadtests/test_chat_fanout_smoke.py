"""The chat fan-out benchmark runs end to end on a tiny scenario.

Real server and load processes over loopback sockets, a few seconds. Speed is
never asserted here (it is measured by the benchmark itself, on a quiet
machine): only that every message reached every member exactly once and that
every figure was produced and can be written to docs/benchmarks.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from loadtests.chat_fanout import (
    format_rounds,
    format_summary,
    main,
    median_round,
    run,
    summarise_collapsed,
)
from loadtests.fanout_results import Results, Scenario
from loadtests.report import BEGIN, END, write_docs
from loadtests.school import MEMBERS_PER_ROOM

pytestmark = pytest.mark.slow


def test_tiny_run_delivers_every_message_once_and_reports_every_figure(tmp_path: Path) -> None:
    scenario = Scenario(rooms=2, senders_per_room=2, rate=1.0, duration=2.0, warmup=1.0,
                        load_procs=2, connections_test=50)
    results = run(scenario, command="python -m loadtests.chat_fanout --tiny", baseline=True)

    # The bare websockets baseline ran the same load first, and is checked the same way.
    assert results.baseline is not None
    assert results.baseline.exactly_once
    # CPU times tick every 10 ms: a tiny run may round to zero, so only presence is checked.
    assert math.isfinite(results.baseline.server_us_per_delivery)
    assert results.baseline_memory is not None
    assert (results.baseline_memory.opened, results.baseline_memory.failed) == (50, 0)

    f = results.fanout
    assert f.connections == 2 * MEMBERS_PER_ROOM
    assert f.connections_failed == 0
    assert f.messages_committed > 0
    assert f.messages_sent == f.messages_acked == f.messages_committed
    assert not f.send_errors
    assert f.expected_deliveries == f.messages_committed * MEMBERS_PER_ROOM
    assert f.delivered_total == f.expected_deliveries
    assert f.duplicates == 0
    assert f.missing == 0
    assert f.sockets_closed == 0
    assert not f.drain_timed_out
    assert f.exactly_once

    assert f.delivered_per_s > 0
    for value in (*f.latency_ms.values(), *f.ack_ms.values(), *f.send_lag_ms.values()):
        assert math.isfinite(value)
    assert f.server_cpu_s >= 0
    assert math.isfinite(f.server_us_per_delivery)
    assert f.server_rss_kib > 0
    assert len(f.loadgen_cpu_share) == scenario.load_procs

    m = results.memory
    assert m is not None
    assert (m.opened, m.failed) == (50, 0)
    assert m.rss_after_kib > 0
    assert math.isfinite(m.kib_per_connection)

    assert "exactly once       yes" in format_summary(results)

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHand-written notes stay.\n")
    write_docs(docs, results)
    write_docs(docs, results)  # a second run replaces the section, keeps the rest
    text = docs.read_text()
    assert text.count(BEGIN) == text.count(END) == 1
    assert "Hand-written notes stay." in text
    for needle in ("Date:", "Machine:", "Server code:", "--tiny", "delivered messages/s", "p99",
                   "server CPU per delivered message", "memory per open connection",
                   "bare `websockets`", "measured side by side", "### Reading"):
        assert needle in text


def test_profile_summary_ranks_functions_by_self_time() -> None:
    rows, samples = summarise_collapsed([
        "run (asyncio/runners.py:118);step (a.py:1);send (b.py:2) 30",
        "run (asyncio/runners.py:118);step (a.py:1) 10",
        "worker (x/site-packages/aiosqlite/core.py:9) 60",
    ])
    assert samples == 100
    assert rows[0].function == "worker (aiosqlite/core.py)"
    assert rows[0].self_share == pytest.approx(0.6)
    by_name = {r.function: r for r in rows}
    assert by_name["step (a.py)"].total_share == pytest.approx(0.4)
    assert by_name["send (b.py)"].self_share == pytest.approx(0.3)


def _round(bare: float | None, embedded: float, total: float | None) -> Results:
    """A round's figures, only those the ratios read."""
    def figures(us: float) -> SimpleNamespace:
        return SimpleNamespace(server_us_per_delivery=us)
    return cast(Results, SimpleNamespace(
        fanout=figures(embedded),
        baseline=None if bare is None else figures(bare),
        production=None if total is None else SimpleNamespace(total_us_per_delivery=total)))


def test_rounds_report_every_ratio_and_record_the_median_round() -> None:
    rounds = [_round(15.0, 30.0, 45.0), _round(16.0, 24.0, 40.0), _round(14.0, 35.0, 50.0)]
    # embedded / bare: 2.00, 1.50, 2.50 -> the median round is the first
    assert median_round(rounds) is rounds[0]
    text = format_rounds(rounds)
    assert "embedded / bare" in text
    assert "2.00, 1.50, 2.50  (median 2.00)" in text
    assert "1.50, 1.67, 1.43  (median 1.50)" in text

    # An even number: the lower middle round is recorded, the median is the mean of both.
    two = rounds[:2]
    assert median_round(two) is rounds[1]
    assert "(median 1.75)" in format_rounds(two)

    # Without a baseline the PostgreSQL + Redis ratio decides; with neither, the last round.
    no_bare = [_round(None, 30.0, 60.0), _round(None, 30.0, 36.0), _round(None, 30.0, 45.0)]
    assert median_round(no_bare) is no_bare[2]
    assert "embedded / bare" not in format_rounds(no_bare)
    alone = [_round(None, 30.0, None), _round(None, 31.0, None)]
    assert median_round(alone) is alone[1]


def test_rounds_below_one_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--rounds", "0"])
