"""The two-node fan-out benchmark runs end to end on a tiny scenario.

Two real ``preau serve`` processes on a private PostgreSQL and a private
Redis, a few seconds. Speed is never asserted: only that every message reached
every member exactly once across the nodes, and that each node's broker
counters were read.
"""

from __future__ import annotations

import pytest

from loadtests.chat_cluster import run
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
