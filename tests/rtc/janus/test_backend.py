"""JanusSfu against a real Janus, with real aiortc peers (scenarios/backend.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rtc.janus.harness import JanusServer, Namespace, run_scenario

pytestmark = pytest.mark.slow

PUPILS = 5


@pytest.fixture(scope="module")
def report(sfu_namespace: Namespace, janus: JanusServer) -> dict[str, Any]:
    return run_scenario(sfu_namespace, "backend", {
        "janus": janus.url, "secret": janus.secret, "address": sfu_namespace.address,
        "pupils": PUPILS,
    })


def test_every_pupil_receives_the_teachers_frames(report: dict[str, Any]) -> None:
    frames = report["teacher_frames"]
    assert len(frames) == PUPILS
    # 3 s of a 15 fps pattern: at least half of it arrived at every pupil.
    assert all(n >= 20 for n in frames.values()), frames


def test_audio_only_subscription_carries_no_video(report: dict[str, Any]) -> None:
    assert report["audio_only_m_video"] is False
    assert report["audio_only_video_frames"] == 0
    assert report["audio_only_audio_frames"] > 0


def test_moderate_mutes_the_publishers_audio_at_the_sfu(report: dict[str, Any]) -> None:
    assert report["pupil0_audio_before_mute"] > 20
    assert report["pupil0_audio_after_mute"] == 0
    assert report["pupil0_video_after_mute"] > 0  # only audio was muted
    assert report["pupil0_audio_after_unmute"] > 0


def test_kick_ends_publication_and_subscriptions(report: dict[str, Any]) -> None:
    assert report["kicked_view_frames_after"] == 0
    assert report["other_view_frames_after"] > 0
    ended = {tuple(e) for e in report["ended"]}
    assert ("pupil0", "publish", "kicked") in ended
    assert any(who == "pupil2" and reason == "kicked" for who, _, reason in ended)


def test_unknown_feed_and_closed_room_are_missing(report: dict[str, Any]) -> None:
    assert report["subscribe_unknown"] == "missing"
    assert report["after_close"] == "missing"


def test_a_stale_feed_is_replaced_by_a_new_publication(report: dict[str, Any]) -> None:
    assert report["republish_elsewhere"] is True
    assert ["pupil4", "publish", "kicked"] in report["ended"]
