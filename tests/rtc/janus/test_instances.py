"""Several Janus instances (preau/rtc/janus/assign.py, JanusSfu._instance), for real."""

from __future__ import annotations

import pytest

from tests.rtc.janus.harness import JanusServer, Namespace, run_scenario

pytestmark = pytest.mark.slow


def test_calls_go_to_their_hashed_instance_and_stay_where_they_live(
    sfu_namespace: Namespace, janus: JanusServer, second_janus: JanusServer
) -> None:
    report = run_scenario(sfu_namespace, "instances", {
        "a": janus.url, "b": second_janus.url, "secret": janus.secret})
    assert report == {
        "placed_as_hashed": True, "placed_once": True, "spread": True,
        "moved_found_on_b": True, "no_twin_on_a": True, "all_closed": True,
    }
