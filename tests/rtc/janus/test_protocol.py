"""Janus replies, parsed without I/O (preau/rtc/janus/protocol.py)."""

from __future__ import annotations

import pytest

from preau.rtc.janus.protocol import (
    NO_SUCH_FEED,
    SESSION_NOT_FOUND,
    JanusError,
    parse_plugin_reply,
    stream_kinds,
)

CONFIGURED = {
    "janus": "event", "transaction": "t1", "sender": 7,
    "plugindata": {"plugin": "janus.plugin.videoroom", "data": {
        "videoroom": "event", "room": "c1", "configured": "ok",
        "streams": [{"type": "audio", "mindex": 0, "mid": "0", "codec": "opus"},
                    {"type": "video", "mindex": 1, "mid": "1", "codec": "vp8"}]}},
    "jsep": {"type": "answer", "sdp": "v=0\r\n"},
}


def test_an_event_gives_the_plugin_data_and_jsep() -> None:
    reply = parse_plugin_reply(CONFIGURED)
    assert reply.data["configured"] == "ok"
    assert reply.jsep == {"type": "answer", "sdp": "v=0\r\n"}
    assert stream_kinds(reply.data["streams"]) == {"0": "audio", "1": "video"}


def test_a_videoroom_error_raises_with_its_code() -> None:
    message = {"janus": "success", "plugindata": {"plugin": "janus.plugin.videoroom", "data": {
        "videoroom": "event", "error_code": NO_SUCH_FEED, "error": "No such feed (p1)"}}}
    with pytest.raises(JanusError) as caught:
        parse_plugin_reply(message)
    assert caught.value.code == NO_SUCH_FEED


def test_a_core_error_raises_with_its_code() -> None:
    with pytest.raises(JanusError) as caught:
        parse_plugin_reply({"janus": "error", "error": {"code": SESSION_NOT_FOUND,
                                                        "reason": "No such session"}})
    assert caught.value.code == SESSION_NOT_FOUND


@pytest.mark.parametrize("message", [
    {"janus": "success"},
    {"janus": "event", "plugindata": {"plugin": "x"}},
    {"janus": "event", "plugindata": "nope"},
])
def test_a_reply_without_plugin_data_is_an_error(message: dict[str, object]) -> None:
    with pytest.raises(JanusError):
        parse_plugin_reply(message)


def test_stream_kinds_keeps_only_live_audio_and_video() -> None:
    streams = [{"type": "audio", "mid": "0"}, {"type": "data", "mid": "2"},
               {"type": "video", "mid": "1", "disabled": True}, "junk", {"type": "video"}]
    assert stream_kinds(streams) == {"0": "audio"}
    assert stream_kinds(None) == {}
