"""SDP and candidate shape checks (preau/rtc/signal.py), without a network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preau.rtc.signal import (
    MAX_MEDIA_SECTIONS,
    MAX_SDP_BYTES,
    CandidateBudget,
    Direction,
    SdpType,
    SignalError,
    check_candidate,
    check_sdp,
)

HEAD = "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
VIDEO = "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=recvonly\r\n"


def test_a_browser_like_offer_is_summarised() -> None:
    summary = check_sdp(HEAD + AUDIO + VIDEO, SdpType.OFFER)
    assert [(s.kind, s.port, s.direction) for s in summary.sections] == [
        ("audio", 9, Direction.SENDRECV), ("video", 9, Direction.RECVONLY)]
    assert summary.carries_video()
    assert summary.sections[0].sends
    assert not summary.sections[1].sends
    assert summary.sections[1].receives


@pytest.mark.parametrize("video", [
    "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n",  # rejected section
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\n",
])
def test_rejected_or_inactive_video_carries_nothing(video: str) -> None:
    assert not check_sdp(HEAD + AUDIO + video, SdpType.ANSWER).carries_video()


def test_a_session_level_direction_is_the_default_of_each_section() -> None:
    sdp = HEAD + "a=inactive\r\n" + "m=video 9 RTP/AVP 96\r\n"
    assert not check_sdp(sdp, SdpType.OFFER).carries_video()


def test_bare_line_feeds_are_tolerated() -> None:
    assert len(check_sdp((HEAD + AUDIO).replace("\r\n", "\n"), SdpType.OFFER).sections) == 1


@pytest.mark.parametrize(("sdp", "too_large"), [
    ("", False),
    ("hello", False),
    ("v=1\r\n", False),
    ("v=0\r\ns=-\r\n", False),  # no o= line
    (HEAD + "not a line\r\n", False),
    (HEAD + "a=caf\u00e9\r\n", False),  # not ASCII
    (HEAD + "a=x\x00y\r\n", False),
    (HEAD + "m=video nine RTP/AVP 96\r\n", False),
    (HEAD + "m=video 70000 RTP/AVP 96\r\n", False),
    (HEAD + "a=" + "x" * 3000 + "\r\n", True),
    (HEAD + "a=x:" + "y" * MAX_SDP_BYTES + "\r\n", True),
    (HEAD + "m=audio 9 RTP/AVP 0\r\n" * (MAX_MEDIA_SECTIONS + 1), True),
])
def test_malformed_or_oversize_descriptions_are_refused(sdp: str, too_large: bool) -> None:
    with pytest.raises(SignalError) as refused:
        check_sdp(sdp, SdpType.OFFER)
    assert refused.value.too_large is too_large


@given(st.text(max_size=400))
def test_any_text_is_either_accepted_or_refused_cleanly(text: str) -> None:
    try:
        check_sdp(text, SdpType.OFFER)
    except SignalError:
        pass


def test_candidates() -> None:
    ok = check_candidate("candidate:842163049 1 udp 1677729535 192.0.2.1 3478 typ srflx "
                         "raddr 0.0.0.0 rport 0 generation 0 ufrag sEMT", "0", 0, "sEMT")
    assert ok.to_wire()["sdpMid"] == "0"
    assert check_candidate("", "0", None, None).end_of_candidates
    for bad in (
        ("candidate:1 1 udp 1 host 1 typ host; drop", "0", 0, None),
        ("candidate:1 1 sctp 1 127.0.0.1 1 typ host", "0", 0, None),
        ("candidate:1 1 udp 1 127.0.0.1 1 typ host", None, None, None),
        ("candidate:1 1 udp 1 127.0.0.1 1 typ host", "a b", 0, None),
        ("candidate:1 1 udp 1 127.0.0.1 1 typ host", "0", 99, None),
        ("candidate:1 1 udp 1 127.0.0.1 1 typ host", "0", 0, "bad frag!"),
    ):
        with pytest.raises(SignalError):
            check_candidate(*bad)
    with pytest.raises(SignalError) as long:
        check_candidate("candidate:1 1 udp 1 127.0.0.1 1 typ host " + "x" * 600, "0", 0, None)
    assert long.value.too_large


def test_the_candidate_budget_is_per_pair_and_refills() -> None:
    budget = CandidateBudget(burst=3, per_s=1.0)
    assert [budget.take("a", "b", 0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.take("a", "c", 0.0)  # another pair has its own budget
    assert budget.take("a", "b", 1.0)  # a second later: one more
    assert not budget.take("a", "b", 1.0)
    budget.refill("a", "b")  # a new description: a fresh set of candidates
    assert budget.take("a", "b", 1.0)
    budget.forget("a")
    assert [budget.take("a", "c", 1.0) for _ in range(3)] == [True] * 3
