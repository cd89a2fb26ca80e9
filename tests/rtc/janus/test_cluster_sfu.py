"""SFU calls across two nodes (scenarios/cluster.py): controls given on one node
are enforced at Janus by the node holding the pupil."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rtc.janus.harness import JanusServer, Namespace, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def report(sfu_namespace: Namespace, janus: JanusServer) -> dict[str, Any]:
    return run_scenario(sfu_namespace, "cluster", {
        "janus": janus.url, "secret": janus.secret, "address": sfu_namespace.address,
    }, timeout=150)


def test_feeds_cross_nodes(report: dict[str, Any]) -> None:
    assert report["teacher_gets_lea_video"] >= 15
    assert report["lea_gets_teacher_video"] >= 15


def test_a_lock_given_on_one_node_mutes_at_the_sfu_through_the_other(
    report: dict[str, Any],
) -> None:
    assert report["lea_audio_before_lock"] > 20
    assert report["lea_audio_after_lock"] == 0


def test_a_removal_given_on_one_node_kicks_through_the_other(report: dict[str, Any]) -> None:
    assert "removed" in report["lea_ended"]
    assert report["lea_video_after_removal"] == 0
