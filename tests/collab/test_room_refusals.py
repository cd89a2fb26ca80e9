"""Rooms without a network: awareness echoes from stock clients, refused edits
(a lock, a reconnect carrying them, another node), readers' handshakes, and
whose copy each Yjs client id is (a change in another's copy is refused, and
a refusal condemns only the sender's own copies)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pycrdt import Doc, Text

from preau.collab import codec
from preau.collab.ports import Access
from preau.collab.room import REFUSED_EDIT, Limits
from tests.collab.harness import SimClient
from tests.collab.test_room import DOC, Node, World, settle, text_in_store

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
    await lea.edit(6, "g")  # her copy's first change: it is hers from now on
    await settle(hugo, until=lambda: hugo.content() == "abcdefg")
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
    assert hugo.content() == "abcdefg"
    assert await text_in_store(world.store) == "abcdefg"


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


# -- whose copies ----------------------------------------------------------------------


def written_as(client_id: int, base: bytes, index: int, text: str) -> bytes:
    """An update with structs under ``client_id`` at its next clock, as anyone
    who read the document's state vector can make one."""
    forged: Doc[Any] = Doc(client_id=client_id)
    forged.apply_update(base)
    before = forged.get_state()
    content = forged.get("content", type=Text)
    content.insert(min(index, len(content)), text)
    return forged.get_update(before)


async def test_a_reader_cannot_condemn_the_editors_copies(world: World) -> None:
    """An outside probe: a reader sent one change under every editor's client
    id at its next clock; refused, it condemned them all, on every node, and
    every editor's next change was refused for good."""
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    reader = world.client("parent", Access.READ)
    await lea.connect(room_a)
    await hugo.connect(room_b)
    await reader.connect(room_a)
    await room_a.receive(reader, codec.awareness([Entry(reader.doc.client_id, 1, "{}")]))
    await lea.edit(0, "Lea")
    await settle(hugo, until=lambda: hugo.content() == "Lea")
    await hugo.edit(0, "Hugo ")
    await settle(lea, hugo, reader, until=lambda: reader.content() == lea.content()
                 == hugo.content() == "Hugo Lea")
    base = reader.doc.get_update()
    for victim in (lea, hugo):
        await room_a.receive(reader, codec.update(
            written_as(victim.doc.client_id, base, 0, "pirate ")))
    await reader.pump()
    assert reader.denied[-1] == f"forbidden: read-only: this change was not saved {REFUSED_EDIT}"
    # No copy is condemned: the editors' are theirs, and the reader's never
    # had a change accepted (its connection alone is cut off from writing).
    assert room_a.refused == {}
    assert await world.store.refused_clients(DOC) == {}
    await lea.edit(8, " ecrit")
    await hugo.edit(0, "et ")
    await settle(lea, hugo, until=lambda: lea.content() == hugo.content()
                 == "et Hugo Lea ecrit")
    assert lea.denied == hugo.denied == []
    assert await text_in_store(world.store) == "et Hugo Lea ecrit"


async def test_a_writer_cannot_write_in_another_persons_copy(world: World) -> None:
    """Structs under the teacher's client id at her next clock would be
    written in her name, and her own next keystrokes, at those clocks,
    dropped by every replica as duplicates."""
    room_a, room_b = await world.a.room(), await world.b.room()
    teacher, pupil = world.client("teacher"), world.client("pupil")
    await teacher.connect(room_a)
    await pupil.connect(room_b)  # the other node: the binding is in the store
    await teacher.edit(0, "Consigne")
    await settle(pupil, until=lambda: pupil.content() == "Consigne")
    forged = written_as(teacher.doc.client_id, pupil.doc.get_update(), 8, " : rien à faire")
    await room_b.receive(pupil, codec.update(forged))
    await pupil.pump()
    assert pupil.denied[-1] == ("forbidden: this change is written in another person's copy"
                                f" of the document {REFUSED_EDIT}")
    assert teacher.doc.client_id not in room_b.refused
    await teacher.edit(8, " : lire le chapitre 3")
    assert teacher.denied == []
    assert await text_in_store(world.store) == "Consigne : lire le chapitre 3"
    # The pupil's own new copy writes as before.
    fresh = world.client("pupil")
    await fresh.connect(room_b)
    await fresh.edit(0, "Lu. ")
    assert fresh.denied == []
    assert await text_in_store(world.store) == "Lu. Consigne : lire le chapitre 3"


async def test_a_copy_that_saw_anothers_change_first_elsewhere_is_not_refused(
    world: World,
) -> None:
    """A client may carry another's structs this node has not integrated yet
    (they reached it through another node): they are in the store, so the
    change is the sender's own plus what everyone has."""
    room_b = await world.b.room()
    teacher, pupil = SimClient("teacher"), world.client("pupil")
    world.auth.rights[("teacher", DOC)] = Access.WRITE
    teacher.text.insert(0, "Consigne")
    # Stored and bound as node A would, the broker message not yet taken here.
    await world.store.bind_clients(DOC, [teacher.doc.client_id], "teacher", 1_000)
    await world.store.append_update(DOC, teacher.doc.get_update(), "teacher", 1_000)
    pupil.doc.apply_update(teacher.doc.get_update())
    pupil.text.insert(8, " lue")
    await pupil.connect(room_b)  # its SyncStep2 carries both
    await pupil.pump()
    assert pupil.denied == []
    assert await text_in_store(world.store) == "Consigne lue"


async def test_one_change_may_not_bring_many_new_copies(world: World) -> None:
    room = await world.a.room()
    pupil = world.client("pupil")
    await pupil.connect(room)
    many: Doc[Any] = Doc()
    for client_id in range(100, 109):  # nine made-up copies, one struct each
        part: Doc[Any] = Doc(client_id=client_id)
        part.apply_update(many.get_update())
        before = part.get_state()
        part.get("content", type=Text).insert(0, "x")
        many.apply_update(part.get_update(before))
    await room.receive(pupil, codec.update(many.get_update()))
    await pupil.pump()
    assert pupil.denied[-1] == f"forbidden: more than 8 new Yjs copies in one change {REFUSED_EDIT}"
    assert await world.store.client_owners(DOC) == {}
    assert room.refused == {}  # none of them is known to be the pupil's


async def test_a_document_remembers_a_bounded_number_of_refused_copies(world: World) -> None:
    world.limits = Limits(catch_up_delay_s=0.01, max_refused_copies=2)
    world.a = Node("node-a", world.bus, world.store, world.auth, world.limits)
    room = await world.a.room()
    writers = [world.client(f"writer{n}") for n in range(4)]
    for writer in writers:
        await writer.connect(room)
        await writer.edit(0, "x")  # a copy of theirs
        world.auth.rights[(writer.person_id, DOC)] = Access.READ
        await room.recheck(writer.person_id)
        await writer.edit(0, "y")
        assert writer.denied[-1].endswith(REFUSED_EDIT)  # each is refused and cut off...
    # ...but only the first two are remembered.
    assert set(room.refused) == {writers[0].doc.client_id, writers[1].doc.client_id}
    await world.a.rooms.close()


async def test_a_change_refused_binds_nothing(world: World) -> None:
    """An outside probe: a pupil read the teacher's new copy id from awareness
    and sent, under it, a change made to be refused; the copy was bound to
    the pupil before the refusal, so the teacher's first change was refused
    and her copy condemned. Only an accepted change binds its copies now."""
    world.limits = Limits(catch_up_delay_s=0.01, max_document_bytes=300)
    world.a = Node("node-a", world.bus, world.store, world.auth, world.limits)
    room = await world.a.room()
    teacher, pupil = world.client("teacher"), world.client("pupil")
    await teacher.connect(room)
    await pupil.connect(room)
    too_large = written_as(teacher.doc.client_id, pupil.doc.get_update(), 0, "x" * 400)
    await room.receive(pupil, codec.update(too_large))
    await pupil.pump()
    assert pupil.denied[-1].startswith("too_large: document larger than")
    assert await world.store.client_owners(DOC) == {}
    assert room.refused == {}
    await teacher.edit(0, "Consigne")
    assert teacher.denied == []
    assert await text_in_store(world.store) == "Consigne"
    assert await world.store.client_owners(DOC) == {teacher.doc.client_id: "teacher"}
    await world.a.rooms.close()


async def test_a_person_binds_a_bounded_number_of_new_copies_an_hour(world: World) -> None:
    """An outside probe made 12,590 copies of one document in a few minutes,
    each a row every first save then read."""
    world.limits = Limits(catch_up_delay_s=0.01, new_copies_per_hour=2)
    world.a = Node("node-a", world.bus, world.store, world.auth, world.limits)
    room = await world.a.room()
    tabs = [world.client("pupil") for _ in range(3)]
    for n, tab in enumerate(tabs):
        await tab.connect(room)
        await tab.edit(0, str(n))
    assert tabs[0].denied == tabs[1].denied == []
    assert tabs[2].denied[-1] == ("forbidden: more than 2 new Yjs copies an hour: reopen the"
                                  f" documents you have open instead {REFUSED_EDIT}")
    assert len(await world.store.client_owners(DOC)) == 2
    other = world.client("teacher")  # the limit is the person's
    await other.connect(room)
    await other.edit(0, "t")
    assert other.denied == []
    await world.a.rooms.close()


async def test_a_copy_nobody_owns_is_condemned_for_its_holder_only(world: World) -> None:
    """An outside probe: a reader claimed a live editor's awareness id on a
    node where the document was not open yet, got a change refused, and the
    editor's copy (which had not saved anything yet) was condemned for all.
    Now such a copy is condemned for the reader's changes only; a copy of
    one's own that never saved is still refused at its reconnection."""
    room_b = await world.b.room()
    teacher = world.client("teacher")
    await teacher.connect(room_b)
    await room_b.receive(teacher, codec.awareness([Entry(teacher.doc.client_id, 1, "{}")]))
    room_a = await world.a.room()  # opened after: it never saw the teacher's awareness
    reader = world.client("parent", Access.READ)
    await reader.connect(room_a)
    await room_a.receive(reader, codec.awareness([Entry(teacher.doc.client_id, 5, "{}")]))
    await room_a.receive(reader, codec.update(
        written_as(teacher.doc.client_id, reader.doc.get_update(), 0, "pirate")))
    await reader.pump()
    assert reader.denied[-1].endswith(REFUSED_EDIT)
    assert room_a.refused == {}
    assert await world.store.refused_copies(DOC, "parent") == {teacher.doc.client_id: 0}
    await teacher.edit(0, "Consigne")
    assert teacher.denied == []
    assert await text_in_store(world.store) == "Consigne"

    # A pupil's own copy, refused before it saved anything (a lock), stays
    # refused when it comes back, on any node, once the lock is lifted.
    pupil = world.client("pupil", Access.READ)
    await pupil.connect(room_a)
    await room_a.receive(pupil, codec.awareness([Entry(pupil.doc.client_id, 1, "{}")]))
    await pupil.edit(0, "PENDANT ")
    assert pupil.denied[-1].endswith(REFUSED_EDIT)
    world.auth.rights[("pupil", DOC)] = Access.WRITE
    await pupil.disconnect()
    await pupil.connect(room_b)
    await pupil.pump()
    assert pupil.denied[-1].endswith(REFUSED_EDIT)
    assert await text_in_store(world.store) == "Consigne"
