"""A new conversation is announced to its other participants on every node."""

from __future__ import annotations

import asyncio

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from tests.server.moderation.test_service import Client, barrier
from tests.server.twonodes import Nodes


async def test_the_other_participants_learn_of_a_new_conversation_at_once(nodes: Nodes) -> None:
    camille = Client(nodes, nodes.a, "Camille Martin")  # Léa's parent, on node A
    claire = Client(nodes, nodes.b, "Claire Lefèvre")  # her teacher, on node B
    julien = Client(nodes, nodes.b, "Julien Bernard")  # another parent
    room, created = await nodes.a.chat.open_conversation(camille.member, [claire.member.id])
    assert created
    [opened] = await claire.wait("conversation.opened")
    assert opened["room"]["id"] == room.id
    assert opened["room"]["kind"] == "private"
    assert opened["by"] == {"id": camille.member.id, "name": "Camille Martin"}
    await barrier(nodes, julien, camille)
    assert julien.events("conversation.opened") == []
    assert camille.events("conversation.opened") == []  # the opener has the reply
    # Opening it again is no news.
    again, created_again = await nodes.b.chat.open_conversation(claire.member,
                                                                [camille.member.id])
    assert (again.id, created_again) == (room.id, False)
    await barrier(nodes, claire, camille)
    assert len(claire.events("conversation.opened")) == 1
    assert camille.events("conversation.opened") == []


async def test_a_closing_lost_with_the_broker_is_told_again_after_its_resync(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node A records a conversation's closing while the broker is down: its
    conversation.closed never reaches Garnier's socket on node B (an outside
    probe, 2 runs in 6). B's resync tells its own subscribers again of the
    conversations closed lately; the conversation stays read-only for him."""
    a, b = nodes.a, nodes.b
    camille, garnier = nodes.member(a, "Camille Martin"), nodes.member(b, "Julien Garnier")
    talk, _ = await a.chat.open_conversation(camille, [garnier.id])
    conn_g, rec_g = nodes.connect(b, garnier)
    await b.hub.subscribe(conn_g, talk.id, None, lambda fields: None)

    async def broker_down(channel: str, payload: bytes) -> None:
        return None

    monkeypatch.setattr(a.broker, "publish", broker_down)
    # Camille's child leaves 6eA: she no longer reaches its teacher.
    school = camille.school_id
    report = await import_directory(
        a.store, parse_csv("id;profile;last_name;first_name;classes\n"
                           "E001;pupil;Martin;Léa;6eB\n"),
        uai="0000001D", school_name="Collège du Préau (démo)", timezone="Europe/Paris",
        activation_ttl_s=60, now_ms=0)
    assert not report.errors
    await a.directory.reload(school)  # A records the closing; its notice is lost
    closed = [r for r in await a.store.conversations_in_school(school) if r.id == talk.id]
    assert closed[0].closed
    await b.directory.reload(school)
    await asyncio.sleep(0.05)  # whatever was written to the socket is in
    assert not [f for f in rec_g.frames if f.get("ev") == "conversation.closed"]

    await b.chat.resynced()  # what the broker calls once its connection is back
    async with asyncio.timeout(5):
        while not [f for f in rec_g.frames if f.get("ev") == "conversation.closed"]:
            rec_g.arrived.clear()
            await rec_g.arrived.wait()
    [told] = [f for f in rec_g.frames if f.get("ev") == "conversation.closed"]
    assert (told["room"], told["reason"]) == (talk.id, "relation_ended")
