"""The two-node fan-out benchmark runs end to end on a tiny scenario.

Two real ``preau serve`` processes on a private PostgreSQL and a private
Redis, a few seconds. Speed is never asserted: only that every message reached
every member exactly once across the nodes, and that each node's broker
counters were read.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests.chat_cluster import production_phase, run
from loadtests.fanout_results import Scenario
from loadtests.school import MEMBERS_PER_ROOM

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def test_two_nodes_deliver_every_message_once_across_redis() -> None:
    scenario = Scenario(rooms=2, senders_per_room=2, duration=2.0, warmup=1.0,
                        load_procs=2, connections_test=0)
    offered = 2 * 2 * MEMBERS_PER_ROOM  # 1 msg/s per sender
    results = run(scenario, [2], [offered], log=lambda _line: None)

    [step] = results.steps
    f = step.fanout
    assert step.nodes == 2
    assert f.connections == 2 * MEMBERS_PER_ROOM
    assert f.messages_committed > 0
    assert f.exactly_once
    assert len(step.node_cpu_s) == 2
    assert [b.node for b in step.brokers] == ["bench-0", "bench-1"]
    for broker in step.brokers:
        # Half of each room is on each node: each node hears the other's messages.
        assert broker.received > broker.echoes > 0
        assert broker.unrouted == 0
        assert broker.dropped == broker.publish_dropped == broker.reconnections == 0


def test_production_phase_reports_postgres_and_redis_cpu(tmp_path: Path) -> None:
    """``chat_fanout --production``: one node on PostgreSQL + Redis, with the
    CPU of both servers read over the window (ticks of 10 ms: only presence)."""
    scenario = Scenario(rooms=2, senders_per_room=2, duration=2.0, warmup=1.0,
                        load_procs=2, connections_test=0)
    figures = production_phase(scenario, tmp_path / "production")

    assert figures.fanout.exactly_once
    assert figures.fanout.messages_committed > 0
    assert figures.postgres_processes > 1  # the postmaster and its backends were found
    assert figures.postgres_cpu_s >= 0
    assert figures.redis_cpu_s >= 0
    assert math.isfinite(figures.total_us_per_delivery)
    assert figures.total_us_per_delivery >= figures.fanout.server_us_per_delivery
