"""Janus stopped under a running call, then started again (scenarios/restart.py)."""

from __future__ import annotations

import pytest

from tests.rtc.janus.harness import Namespace, run_scenario

pytestmark = pytest.mark.slow


def test_participants_hear_lost_and_the_call_works_on_the_new_janus(
    sfu_namespace: Namespace,
) -> None:
    report = run_scenario(sfu_namespace, "restart", {
        "namespace": sfu_namespace.name, "device": sfu_namespace.device,
        "address": sfu_namespace.address,
    }, timeout=120)
    assert report["frames_before"] > 5
    assert report["ended"] == [["pupil", "subscription", "lost"],
                               ["teacher", "publish", "lost"]]
    assert report["while_down"] == "unavailable"
    assert report["frames_after_restart"] > 5
