"""The default install has no SFU (docs/video.md, "Without an SFU"): the
server says so at start, tells clients in `hello`, and refuses the "large
class" mode instead of showing each person only themselves."""

from __future__ import annotations

import pytest
from preau_client import PreauError

from tests.server.calls.helpers import class_room, people
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow


async def test_no_sfu_is_said_at_start_in_hello_and_on_asking_for_it(live: LiveServer) -> None:
    log = live.log_path.read_text()
    assert "no SFU configured (PREAU_JANUS_URLS): video calls stay in mesh mode" in log
    async with people(live, "Claire Lefèvre") as (claire,):
        limits = claire.live.hello["limits"]
        assert (limits["sfu"], limits["call_people"]) == (False, 4)
        room = await class_room(claire.client)
        with pytest.raises(PreauError) as refused:
            await claire.live.request("call.create", room=room, controls={"force_sfu": True})
        assert refused.value.code == "bad_request"
        call = (await claire.live.request("call.create", room=room))["call"]
        peer = (await claire.live.request("call.join", call=call))["peer"]
        with pytest.raises(PreauError) as refused:
            await claire.live.request("call.controls", call=call, peer=peer, force_sfu=True)
        assert refused.value.code == "bad_request"
        await claire.live.request("call.leave", call=call, peer=peer)
