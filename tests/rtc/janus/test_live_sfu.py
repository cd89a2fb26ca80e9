"""A whole class through Janus: real ``preau serve``, real Janus, real aiortc peers,
all in the test's network namespace (scenarios/live.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rtc.janus.harness import JanusServer, Namespace, run_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(sfu_namespace: Namespace, janus: JanusServer) -> dict[str, Any]:
    return run_scenario(sfu_namespace, "live", {
        "janus": janus.url, "secret": janus.secret, "address": sfu_namespace.address,
    }, timeout=120)


def test_teacher_and_five_pupils_connect_and_each_pupil_gets_frames(
    report: dict[str, Any],
) -> None:
    assert report["mode"] == "sfu"
    assert report["teacher_kinds"] == ["audio", "video"]
    frames = report["teacher_frames"]
    assert len(frames) == 5
    assert all(n >= 20 for n in frames.values()), frames


def test_locked_pupils_audio_is_muted_at_the_sfu(report: dict[str, Any]) -> None:
    assert report["lea_audio_before_lock"] > 20
    assert report["lea_audio_after_lock"] == 0
    assert report["lea_video_after_lock"] > 0
    assert report["lea_unmute"] == "forbidden"


def test_teacher_only_cameras_give_pupils_no_pupil_video(report: dict[str, Any]) -> None:
    # Turned on during the call: the existing pupil-to-pupil video subscription ends.
    assert report["pupil_to_pupil_kinds_before"] == ["audio", "video"]
    assert report["manon_ended"] == [True, "policy"]
    assert report["pupil_to_pupil_kinds"] == ["audio"]
    assert report["pupil_to_pupil_offer_has_video"] is False
    assert report["pupil_to_pupil_video_frames"] == 0


def test_removed_pupil_is_kicked(report: dict[str, Any]) -> None:
    assert "removed" in report["removed_events"]
    assert report["removed_frames_after"] == 0
    assert report["others_frames_after"] > 0
    assert report["removed_subscribe"] == "not_in_call"


def test_a_pupil_removed_from_the_class_room_is_kicked(report: dict[str, Any]) -> None:
    assert report["room_removed_event"] == "removed"
    assert report["room_removed_subscribe"] == "not_in_call"


def test_bad_input_is_refused_with_its_code(report: dict[str, Any]) -> None:
    assert report["oversize_sdp"] == "too_large"
    assert report["not_in_call_feed"] == "not_found"
    assert report["forged_peer"] == "not_in_call"
    assert report["bad_candidate"] == "bad_request"
    assert report["unknown_op_field"] == "bad_request"
    # The candidate budget (preau/rtc/signal.py CandidateBudget), not the gateway's op limit.
    assert report["flood_codes"] == ["ok", "rate_limited: too many candidates"]


def test_unsubscribe_and_unpublish(report: dict[str, Any]) -> None:
    assert report["unsubscribe"] == "ok"
    assert report["trickle_after_unsubscribe"] == "not_found"
    assert report["unpublish_without_feed"] == "ok"  # idempotent
