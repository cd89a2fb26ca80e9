"""The ``sfu.*`` ops' checks that come before the SFU (preau/server/gateway/sfu_ops.py),
against a real server whose Janus does not answer. The SFU itself: tests/rtc/janus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from preau_client import PreauError

from preau.server.settings import Settings, SettingsError
from tests.server.calls.helpers import Person, class_room, people
from tests.server.live import LiveServer
from tests.server.twonodes import DEAD_JANUS

pytestmark = pytest.mark.slow

OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with an SFU configured that does not answer: calls may go to
    SFU mode, whose ops then answer ``unavailable``."""
    server = LiveServer(tmp_path_factory.mktemp("live"), env={
        "PREAU_JANUS_URLS": DEAD_JANUS, "PREAU_JANUS_ADMIN_SECRET": "not-used"}).start()
    try:
        yield server
    finally:
        server.stop()


async def code(person: Person, op: str, **params: object) -> str:
    try:
        await person.live.request(op, **params)
    except PreauError as e:
        return str(e.code)
    return "ok"


async def test_sfu_ops_check_shape_seat_and_mode_before_the_sfu(live: LiveServer) -> None:
    async with people(live, "Claire Lefèvre", "Léa Martin", "Hugo Bernard") as (t, lea, hugo):
        room = await class_room(t.client)
        sfu_call = (await t.live.request("call.create", room=room,
                                         controls={"force_sfu": True}))["call"]
        mesh_call = (await t.live.request("call.create", room=room))["call"]
        lea_sfu = (await lea.live.request("call.join", call=sfu_call))["peer"]
        lea_mesh = (await lea.live.request("call.join", call=mesh_call))["peer"]
        teacher = (await t.live.request("call.join", call=sfu_call))["peer"]

        # Shape first: too large, malformed, unknown fields, bad ids.
        huge = OFFER + "a=x\r\n" * 12000
        assert await code(lea, "sfu.publish", call=sfu_call, peer=lea_sfu, sdp=huge) == "too_large"
        assert await code(lea, "sfu.publish", call=sfu_call, peer=lea_sfu,
                          sdp="hello") == "bad_request"
        assert await code(lea, "sfu.publish", call=sfu_call, peer=lea_sfu, sdp=OFFER,
                          video=True) == "bad_request"
        assert await code(lea, "sfu.subscribe", call=sfu_call, peer=lea_sfu,
                          feed="../x") == "bad_request"
        assert await code(lea, "sfu.trickle", call=sfu_call, peer=lea_sfu, target="publish",
                          candidate={"candidate": "candidate:x; rm -rf", "sdpMid": "0"}
                          ) == "bad_request"
        assert await code(lea, "sfu.trickle", call=sfu_call, peer=lea_sfu, target="publish",
                          candidate={"candidate": "", "sdpMid": "0" * 40}) == "bad_request"
        # Then the seat: a peer id that is not one's own, or a call one is not in.
        assert await code(hugo, "sfu.publish", call=sfu_call, peer=lea_sfu,
                          sdp=OFFER) == "not_in_call"
        assert await code(hugo, "sfu.subscribe", call=sfu_call, peer=lea_sfu,
                          feed=teacher) == "not_in_call"
        # Then the mode: a mesh call has no SFU.
        assert await code(lea, "sfu.publish", call=mesh_call, peer=lea_mesh,
                          sdp=OFFER) == "conflict"
        # And this server's Janus does not answer: unavailable, never a crash.
        assert await code(lea, "sfu.publish", call=sfu_call, peer=lea_sfu,
                          sdp=OFFER) == "unavailable"
        assert await code(lea, "sfu.subscribe", call=sfu_call, peer=lea_sfu,
                          feed=teacher) == "unavailable"
        # The socket is still fine.
        assert (await lea.live.request("ping"))["ok"] is True


def test_janus_settings_are_checked() -> None:
    settings = Settings.from_env({"PREAU_JANUS_URLS": "http://a:8088/janus, http://b:8088/janus",
                                  "PREAU_JANUS_ADMIN_SECRET": "Tr3s-Secret"})
    assert settings.janus_urls == ("http://a:8088/janus", "http://b:8088/janus")
    assert settings.janus_admin_secret == "Tr3s-Secret"
    assert "Tr3s-Secret" not in repr(settings)  # never in a log line
    with pytest.raises(SettingsError, match="PREAU_JANUS_ADMIN_SECRET"):
        Settings.from_env({"PREAU_JANUS_URLS": "http://a:8088/janus"})
    with pytest.raises(SettingsError, match="http"):
        Settings.from_env({"PREAU_JANUS_URLS": "janus:8088", "PREAU_JANUS_ADMIN_SECRET": "s"})
    assert Settings.from_env({}).janus_urls == ()
