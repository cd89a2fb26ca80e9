"""Reactions over the real transports (/ws ops and REST) of a real server:
the same answers on both, validated input, the charter gate, and the
per-account rate of sends (a server of its own with a small burst).

Demo school: Léa Martin and Hugo Bernard are 6eA pupils, Claire Lefèvre
teaches 6eA, Inès Petit is a 6eB pupil.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.live import LiveServer, refused

pytestmark = pytest.mark.slow


async def test_over_ws_and_rest_with_the_rate_of_sends(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"PREAU_SENDS_BURST": "4",
                                   "PREAU_SENDS_PER_S": "0.001"}).start()
    try:
        async with server.clients("Léa Martin", "Hugo Bernard", "Claire Lefèvre",
                                  "Inès Petit") as people:
            lea, hugo = people["Léa Martin"], people["Hugo Bernard"]
            rooms = {r["name"]: r["id"] for r in (await lea.me())["rooms"]}
            room = rooms["6eA"]
            async with await lea.connect() as lea_ws, await hugo.connect() as hugo_ws:
                await lea_ws.subscribe(room)
                sent = await lea_ws.send_message(room, "Regardez mon dessin")
                seq = sent["seq"]
                await hugo_ws.subscribe(room)
                done = await hugo_ws.request("chat.react", room=room, seq=seq, reaction="love")
                assert done["reactions"] == {"rev": 1, "counts": {"love": 1}, "mine": ["love"]}
                live = await lea_ws.next_event("chat.reactions")
                assert (live["seq"], live["rev"], live["counts"]) == (seq, 1, {"love": 1})
                assert "mine" not in live
                # The same op over REST (idempotent), and its removal.
                path = f"/api/rooms/{room}/messages/{seq}/reactions"
                again = await hugo.put(path + "/love")
                assert again["duplicate"] is True
                response = await hugo.http.request("DELETE", path + "/love")
                assert response.status_code == 200
                assert response.json()["reactions"]["counts"] == {}
                # Who reacted: the author sees it, others get forbidden.
                assert (await lea.get(path))["reactions"] == {}
                await refused(hugo.get(path), "forbidden")
                await refused(hugo_ws.request("chat.reactors", room=room, seq=seq), "forbidden")
                # Bad input: a documented error, never a crash.
                await refused(hugo_ws.request("chat.react", room=room, seq=seq,
                                              reaction="poop"), "bad_request")
                await refused(hugo.put(path + "/poop"), "bad_request")
                await refused(hugo_ws.request("chat.react", room=room, seq=0,
                                              reaction="like"), "bad_request")
                # Out of reach: as missing, on both transports.
                ines = people["Inès Petit"]
                async with await ines.connect() as ines_ws:
                    await refused(ines_ws.request("chat.react", room=room, seq=seq,
                                                  reaction="like"), "not_found")
                await refused(ines.put(path + "/like"), "not_found")
                # The history carries the counts.
                await hugo.put(path + "/like")
                [entry] = await lea.history(room)
                assert entry["reactions"] == {"rev": 3, "counts": {"like": 1}, "mine": []}
                # Four changes so far (burst 4, almost no refill): the next is refused.
                error = await refused(hugo_ws.request("chat.react", room=room, seq=seq,
                                                      reaction="wow"), "rate_limited")
                assert error.details["retry_after"] > 0
                # Another account has its own bucket (one school, one NAT address).
                claire = people["Claire Lefèvre"]
                assert (await claire.put(path + "/bravo"))["duplicate"] is False
    finally:
        server.stop()
