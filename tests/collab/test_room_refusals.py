"""Rooms without a network: awareness echoes from stock clients, refused edits
(a lock, a reconnect carrying them, another node), readers' handshakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pycrdt import Doc, Text

from preau.collab import codec
from preau.collab.ports import Access
from preau.collab.room import REFUSED_EDIT
from tests.collab.harness import SimClient
from tests.collab.test_room import DOC, World, settle, text_in_store

Entry = codec.AwarenessEntry


@pytest.fixture
async def world() -> AsyncIterator[World]:
    found = World()
    try:
        yield found
    finally:
        await found.close()


def relayed(room: Any, client: SimClient) -> int:
    return int(room._peer_state[client.id].relay_credit)


# -- awareness -------------------------------------------------------------------------


async def test_echoed_awareness_is_dropped_silently_and_not_charged(world: World) -> None:
    room = await world.a.room()
    lea, hugo, ines = world.client("lea"), world.client("hugo"), world.client("ines")
    for client in (lea, hugo, ines):
        await client.connect(room)
    named = '{"user":{"name":"Name of lea"},"cursor":1}'
    assert await room.receive(lea, codec.awareness([Entry(11, 3, named)]))
    await hugo.pump()
    assert relayed(room, hugo) == 1
    # Hugo's provider echoes it: same clock, same state (re-serialised by JSON).
    echo = '{"cursor": 1, "user": {"name": "Name of lea"}}'
    assert not await room.receive(hugo, codec.awareness([Entry(11, 3, echo)]))
    assert relayed(room, hugo) == 0  # one free echo per frame it was sent
    # An older state (it crossed a newer one), and a removal at the same clock
    # (its own 30 s timeout): echoes too.
    await room.receive(lea, codec.awareness([Entry(11, 4, '{"cursor":2}')]))
    await hugo.pump()
    assert not await room.receive(hugo, codec.awareness([Entry(11, 3, named)]))
    await hugo.pump()
    assert await room.receive(hugo, codec.awareness([Entry(11, 4, "null")]))  # no credit left
    await hugo.pump()
    await ines.pump()
    assert hugo.denied == []
    assert ines.awareness == {11: '{"cursor":2}'}  # nobody removed Léa's cursor

    # A real change to Léa's state is refused: a newer clock, or another state.
    await room.receive(hugo, codec.awareness([Entry(11, 9, '{"cursor":99}')]))
    await room.receive(hugo, codec.awareness([Entry(11, 4, '{"cursor":99}')]))
    await hugo.pump()
    await ines.pump()
    assert hugo.denied == ["forbidden: awareness client id belongs to another connection"] * 2
    assert ines.awareness == {11: '{"cursor":2}'}


async def test_an_echo_of_a_departed_state_claims_nothing(world: World) -> None:
    room = await world.a.room()
    lea, hugo, ines = world.client("lea"), world.client("hugo"), world.client("ines")
    for client in (lea, hugo, ines):
        await client.connect(room)
    await room.receive(lea, codec.awareness([Entry(11, 3, '{"n":1}')]))
    await lea.disconnect()  # removed: clock 4, state null, nobody's
    await ines.pump()
    assert ines.awareness == {}
    # Hugo's provider had not seen the removal yet and echoes the old state.
    await room.receive(hugo, codec.awareness([Entry(11, 3, '{"n":1}')]))
    await hugo.pump()
    await ines.pump()
    assert hugo.denied == []
    assert ines.awareness == {}
    assert 11 not in room._peer_state[hugo.id].client_ids
    # Léa comes back with her provider's id and clock (y-websocket keeps both).
    await lea.connect(room)
    await room.receive(lea, codec.awareness([Entry(11, 3, '{"n":1}')]))
    assert 11 in room._peer_state[lea.id].client_ids


async def test_echoes_across_nodes_are_dropped_and_the_owner_is_known(world: World) -> None:
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room_a)
    await hugo.connect(room_b)
    await room_a.receive(lea, codec.awareness([Entry(7, 1, '{"a":1}')]))
    await settle(hugo, until=lambda: 7 in hugo.awareness)
    assert room_b.awareness[7].person == "lea"
    assert not await room_b.receive(hugo, codec.awareness([Entry(7, 1, '{"a":1}')]))
    await room_b.receive(hugo, codec.awareness([Entry(7, 2, '{"a":2}')]))
    await settle(hugo, until=lambda: bool(hugo.denied))
    assert hugo.denied == ["forbidden: awareness client id belongs to another connection"]


# -- refused edits ---------------------------------------------------------------------


async def test_a_change_refused_during_a_lock_never_comes_back(world: World) -> None:
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await room.receive(lea, codec.awareness([Entry(lea.doc.client_id, 1, "{}")]))
    await lea.edit(0, "base")
    await settle(hugo, until=lambda: hugo.content() == "base")

    world.auth.rights[("lea", DOC)] = Access.READ  # locked
    await room.recheck()
    await lea.edit(4, " pendant")
    assert lea.denied[-1] == f"forbidden: read-only: this change was not saved {REFUSED_EDIT}"
    assert room.refused == {lea.doc.client_id: 4}
    assert await world.store.refused_clients(DOC) == {lea.doc.client_id: 4}

    world.auth.rights[("lea", DOC)] = Access.WRITE  # unlocked
    await room.recheck()
    await lea.edit(0, "après ")
    assert lea.denied[-1].startswith("forbidden: this copy holds a change that was refused")
    # Reconnecting with it: refused, not merged (its SyncStep2 carries it).
    await lea.disconnect()
    await lea.connect(room)
    assert lea.denied[-1].endswith(REFUSED_EDIT)
    await hugo.pump()
    assert hugo.content() == "base"
    assert await text_in_store(world.store) == "base"

    # Hugo built nothing on it; a new copy of Léa's works.
    fresh = SimClient("lea")
    await fresh.connect(room)
    assert fresh.content() == "base"
    await fresh.edit(4, " ensuite")
    await settle(hugo, until=lambda: hugo.content() == "base ensuite")
    assert fresh.denied == []


async def test_a_deletion_refused_is_refused_on_reconnect_by_the_awareness_id(
    world: World,
) -> None:
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await hugo.edit(0, "abcdef")
    await settle(lea, until=lambda: lea.content() == "abcdef")
    await room.receive(lea, codec.awareness([Entry(lea.doc.client_id, 1, "{}")]))
    world.auth.rights[("lea", DOC)] = Access.READ
    await room.recheck()
    await lea.delete(0, 3)  # a delete set only: no struct of Léa's
    assert lea.denied[-1].endswith(REFUSED_EDIT)
    assert lea.doc.client_id in room.refused
    world.auth.rights[("lea", DOC)] = Access.WRITE
    await lea.disconnect()
    lea.room = room
    room.join(lea)
    await room.receive(lea, codec.awareness([Entry(lea.doc.client_id, 2, "{}")]))
    await room.receive(lea, codec.sync_step1(lea.doc.get_state()))
    await lea.pump()  # its SyncStep2 carries the refused deletion
    assert lea.denied[-1].endswith(REFUSED_EDIT)
    await hugo.pump()
    assert hugo.content() == "abcdef"
    assert await text_in_store(world.store) == "abcdef"


async def test_a_reader_handshake_is_not_a_change(world: World) -> None:
    room = await world.a.room()
    teacher = world.client("teacher")
    await teacher.connect(room)
    await teacher.edit(0, "abcdef")
    await teacher.delete(1, 2)  # the document's delete set is not empty
    reader = world.client("parent", Access.READ)
    await reader.connect(room)  # its SyncStep2 carries the whole delete set
    await reader.disconnect()
    await reader.connect(room)
    assert reader.content() == "adef"
    # The replica's delete set grows: the reader's next handshake, with it, is
    # still no change (the room reads its own delete set again).
    await teacher.delete(0, 1)
    await reader.pump()
    await reader.disconnect()
    await reader.connect(room)
    assert reader.content() == "def"
    assert reader.denied == []
    assert room.refused == {}


async def test_another_node_and_a_reopened_room_refuse_it_too(world: World) -> None:
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room_a)
    await hugo.connect(room_b)
    await lea.edit(0, "base")
    await settle(hugo, until=lambda: hugo.content() == "base")
    world.auth.rights[("lea", DOC)] = Access.READ
    await room_a.recheck()
    await lea.edit(4, " refusé")
    await settle(until=lambda: lea.doc.client_id in room_b.refused)

    # Léa reconnects to node B with the refused change: refused there too.
    world.auth.rights[("lea", DOC)] = Access.WRITE
    await lea.disconnect()
    await lea.connect(room_b)
    assert lea.denied[-1].endswith(REFUSED_EDIT)
    # A room opened later reads the refused clients from the store.
    await hugo.disconnect()
    await world.b.rooms.leave(room_b, lea)
    assert DOC not in world.b.rooms.rooms
    reopened = await world.b.room()
    assert lea.doc.client_id in reopened.refused
    lea.room = None
    await lea.connect(reopened)
    assert lea.denied[-1].endswith(REFUSED_EDIT)
    assert await text_in_store(world.store) == "base"


async def test_an_update_built_on_a_refused_change_is_refused(world: World) -> None:
    """A second copy got the refused change outside the server (another tab
    of the same browser shares updates directly) and types after it."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await lea.edit(0, "base")
    await settle(hugo, until=lambda: hugo.content() == "base")
    world.auth.rights[("lea", DOC)] = Access.READ
    await room.recheck()
    await lea.edit(4, "X")
    refused_update = lea.doc.get_update(hugo.doc.get_state())
    tab: Doc[Any] = Doc()
    tab.apply_update(lea.doc.get_update())
    before = tab.get_state()
    tab.get("content", type=Text).insert(5, "Y")  # right after the refused "X"
    only_y = tab.get_update(before)
    other = world.client("tab")
    await other.connect(room)
    await room.receive(other, codec.update(only_y))
    await other.pump()
    assert other.denied[-1].endswith(REFUSED_EDIT)
    await room.receive(other, codec.update(refused_update))
    await hugo.pump()
    assert hugo.content() == "base"
    assert await text_in_store(world.store) == "base"
