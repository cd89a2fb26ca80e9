"""Document rooms without a network: the in-memory store and broker, simulated clients."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pycrdt import Doc, Text

from preau.collab import codec
from preau.collab.compaction import compact
from preau.collab.memory import MemoryDocumentStore
from preau.collab.ports import Access
from preau.collab.room import CLOSE_FORBIDDEN, DocumentRoom, Limits
from preau.collab.rooms import DocumentRooms
from preau.server.broker.memory import MemoryBroker, MemoryBus
from tests.collab.harness import SimClient, StaticAuthoriser

DOC = "doc-1"


class Node:
    """One node's rooms, on a shared store and bus."""

    def __init__(self, name: str, bus: MemoryBus, store: MemoryDocumentStore,
                 auth: StaticAuthoriser, limits: Limits) -> None:
        self.broker = MemoryBroker(name, bus)
        self.rooms = DocumentRooms(store=store, broker=self.broker, authoriser=auth,
                                   limits=limits, now_ms=lambda: 1_000)

    async def room(self, document: str = DOC) -> DocumentRoom:
        return await self.rooms._open(document)


class World:
    def __init__(self, limits: Limits | None = None) -> None:
        self.bus = MemoryBus()
        self.store = MemoryDocumentStore()
        self.auth = StaticAuthoriser()
        self.limits = limits or Limits(catch_up_delay_s=0.01)
        self.a = Node("node-a", self.bus, self.store, self.auth, self.limits)
        self.b = Node("node-b", self.bus, self.store, self.auth, self.limits)

    def client(self, person: str, access: Access = Access.WRITE) -> SimClient:
        self.auth.rights[(person, DOC)] = access
        return SimClient(person, access)

    async def close(self) -> None:
        await self.a.rooms.close()
        await self.b.rooms.close()
        await self.a.broker.close()
        await self.b.broker.close()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    found = World()
    try:
        yield found
    finally:
        await found.close()


async def settle(*clients: SimClient, until: Callable[[], bool] | None = None) -> None:
    """Let broker messages and catch-ups run, then deliver every queued frame.

    With ``until``, wait for it for up to 10 s: catch-ups back off and the store
    runs on threads, which a loaded CI machine slows down (returns as soon as
    it holds, so a fast machine does not wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while True:
        await asyncio.sleep(0.005)
        for client in clients:
            await client.pump()
        if until is None or until():
            return
        if loop.time() > deadline:
            raise AssertionError("did not settle")


async def text_in_store(store: MemoryDocumentStore, document: str = DOC) -> str:
    stored = await store.load_log(document)
    doc: Doc[Any] = Doc()
    if stored.snapshot is not None:
        doc.apply_update(stored.snapshot)
    for _, update in stored.updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


async def test_handshake_and_relay_store_before_relay(world: World) -> None:
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)

    seen_in_store: list[bool] = []
    original = hugo.send

    def send_checking(frame: bytes) -> None:
        message = codec.decode(frame)
        if isinstance(message, codec.Update):
            stored = [u for _, u in world.store._logs[DOC].updates.items()]
            seen_in_store.append(message.update in stored)
        original(frame)

    hugo.send = send_checking  # type: ignore[method-assign]
    await lea.edit(0, "bonjour")
    await hugo.pump()
    assert hugo.content() == "bonjour"
    assert seen_in_store == [True]  # appended before it was relayed
    assert await text_in_store(world.store) == "bonjour"
    assert world.store.edits == [(DOC, "lea", 1_000)]


async def test_late_joiner_gets_the_cached_state(world: World) -> None:
    room = await world.a.room()
    lea = world.client("lea")
    await lea.connect(room)
    await lea.edit(0, "abc")
    encoded = room.encoded_state()
    assert room.encoded_state() is encoded  # cached, not re-encoded per join
    late = world.client("late")
    await late.connect(room)
    assert late.content() == "abc"
    await lea.edit(3, "d")
    assert room.encoded_state() is not encoded  # a change invalidates it


async def test_an_edit_racing_the_documents_deletion_is_refused_quietly(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store no longer knows the document (deleted while the edit was on
    its way): the edit is refused as forbidden, not "unavailable, retry", and
    nothing is logged as an error (an outside probe saw 3 tracebacks a race)."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)

    async def deleted(*_: object) -> int:
        raise LookupError("unknown document")

    monkeypatch.setattr(world.store, "append_update", deleted)
    await lea.edit(0, "trop tard")
    assert lea.denied == ["forbidden: this document no longer exists"]
    await hugo.pump()
    assert hugo.content() == ""  # never relayed
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_read_only_updates_are_refused_never_stored_nor_relayed(world: World) -> None:
    room = await world.a.room()
    writer, reader = world.client("w"), world.client("r", Access.READ)
    await writer.connect(room)
    await reader.connect(room)
    await writer.edit(0, "officiel")
    await reader.pump()
    assert reader.content() == "officiel"

    await reader.edit(0, "pirate ")
    assert reader.denied == ["forbidden: read-only: this change was not saved [refused-edit]"]
    await writer.pump()
    assert writer.content() == "officiel"
    assert await text_in_store(world.store) == "officiel"
    assert [e[1] for e in world.store.edits] == ["w"]


async def test_garbage_and_oversize_updates_leave_the_room_intact() -> None:
    world = World(Limits(max_update_bytes=1000, max_document_bytes=3000,
                         catch_up_delay_s=0.01))
    try:
        room = await world.a.room()
        lea, hugo = world.client("lea"), world.client("hugo")
        await lea.connect(room)
        await hugo.connect(room)
        await lea.edit(0, "ok")
        await room.receive(lea, codec.update(b"\x01\x01\xff\xff\xff\xff"))
        await lea.pump()
        assert lea.denied[-1] == "bad_request: not a Yjs update"
        await lea.edit(2, "!")  # garbage changes nothing: Léa still edits
        await settle(hugo, until=lambda: hugo.content() == "ok!")
        big: Doc[Any] = Doc()
        big.get("content", type=Text).insert(0, "x" * 2000)
        await room.receive(lea, codec.update(big.get_update()))
        await lea.pump()
        assert lea.denied[-1].startswith("too_large: update larger than 1000")
        assert lea.denied[-1].endswith("[refused-edit]")
        # Léa's copy now holds what nobody else has: her edits are refused.
        await lea.edit(0, "z")
        assert lea.denied[-1].startswith("forbidden: this copy holds a change that was refused")
        for _ in range(4):
            await hugo.edit(0, "y" * 800)
        await hugo.pump()
        assert hugo.denied[-1].startswith("too_large: document larger than 3000")
        assert hugo.content().count("y") == 4 * 800  # his copy keeps the fourth…
        await lea.pump()
        assert lea.content().count("y") == 3 * 800  # …which nobody else received
        assert await text_in_store(world.store) == "y" * 2400 + "ok!"
        # What was refused is nowhere: the store and the relay agree.
        assert await text_in_store(world.store) == lea.content().replace("z", "")
        assert "x" not in lea.content()
    finally:
        await world.close()


async def test_malformed_frames_in_a_row_close_the_connection() -> None:
    world = World(Limits(errors_before_close=3))
    try:
        room = await world.a.room()
        lea = world.client("lea")
        await lea.connect(room)
        for _ in range(4):
            await room.receive(lea, b"\x09")
        assert lea.closed_with == 1008
        await lea.pump()
        assert lea.denied == ["bad_request: unknown_type: unknown message type 9"] * 4
    finally:
        await world.close()


async def test_awareness_ownership_and_removal_on_leave(world: World) -> None:
    room = await world.a.room()
    lea, hugo, ines = world.client("lea"), world.client("hugo"), world.client("ines")
    for client in (lea, hugo, ines):
        await client.connect(room)
    await room.receive(lea, codec.awareness([codec.AwarenessEntry(11, 1, '{"n":"Léa"}')]))
    await hugo.pump()
    assert hugo.awareness == {11: '{"n":"Léa"}'}

    await room.receive(hugo, codec.awareness([codec.AwarenessEntry(11, 5, '{"n":"faux"}')]))
    await hugo.pump()
    await ines.pump()
    assert hugo.denied == ["forbidden: awareness client id belongs to another connection"]
    assert ines.awareness == {11: '{"n":"Léa"}'}

    # Old clocks are ignored; a newer one from the owner wins.
    await room.receive(lea, codec.awareness([codec.AwarenessEntry(11, 0, '{"n":"vieux"}')]))
    await room.receive(lea, codec.awareness([codec.AwarenessEntry(11, 2, '{"n":"Léa 2"}')]))
    await ines.pump()
    assert ines.awareness == {11: '{"n":"Léa 2"}'}

    await lea.disconnect()
    await ines.pump()
    assert ines.awareness == {}
    # The id is free again: someone else may take it now.
    await room.receive(hugo, codec.awareness([codec.AwarenessEntry(11, 9, '{"n":"Hugo"}')]))
    await ines.pump()
    assert ines.awareness == {11: '{"n":"Hugo"}'}


async def test_awareness_ids_per_connection_are_bounded() -> None:
    world = World(Limits(max_awareness_ids=2))
    try:
        room = await world.a.room()
        lea = world.client("lea")
        await lea.connect(room)
        flood = [codec.AwarenessEntry(i, 1, "{}") for i in range(1, 6)]
        await room.receive(lea, codec.awareness(flood))
        await lea.pump()
        assert lea.denied == ["too_large: too many awareness client ids"]
        assert len(room.awareness.live()) == 2
    finally:
        await world.close()


async def test_two_nodes_relay_updates_and_awareness(world: World) -> None:
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room_a)
    await hugo.connect(room_b)
    await lea.edit(0, "d'un nœud ")
    await settle(hugo, until=lambda: hugo.content() == "d'un nœud ")
    await hugo.edit(len(hugo.text), "à l'autre")
    await settle(lea, until=lambda: lea.content() == "d'un nœud à l'autre")

    await room_a.receive(lea, codec.awareness([codec.AwarenessEntry(7, 1, '{"a":1}')]))
    await settle(hugo, until=lambda: 7 in hugo.awareness)
    # Hugo, on the other node, cannot take Léa's id either.
    await room_b.receive(hugo, codec.awareness([codec.AwarenessEntry(7, 3, '{"a":2}')]))
    await settle(hugo, until=lambda: bool(hugo.denied))
    assert hugo.awareness[7] == '{"a":1}'
    await lea.disconnect()
    await settle(hugo, until=lambda: 7 not in hugo.awareness)


async def test_a_lost_broker_message_is_read_from_the_store(world: World) -> None:
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room_a)
    await hugo.connect(room_b)
    publish = world.a.broker.publish
    dropped: list[bytes] = []

    async def lossy(channel: str, payload: bytes) -> None:
        if not dropped:
            dropped.append(payload)  # the first one never arrives
            return
        await publish(channel, payload)

    world.a.broker.publish = lossy  # type: ignore[method-assign]
    await lea.edit(0, "perdu ")
    await lea.edit(6, "puis retrouvé")
    await settle(hugo, until=lambda: hugo.content() == "perdu puis retrouvé")
    assert dropped
    assert room_b.head == 2


async def test_compaction_bounds_the_log_and_keeps_everything() -> None:
    world = World(Limits(compact_after_updates=5, catch_up_delay_s=0.01))
    try:
        room = await world.a.room()
        lea = world.client("lea")
        await lea.connect(room)
        for i in range(23):
            await lea.edit(i, "x")
        assert room._compaction is not None
        await room._compaction
        stored = await world.store.load_log(DOC)
        assert stored.snapshot is not None
        assert len(stored.updates) < 5
        assert await text_in_store(world.store) == "x" * 23
        late = world.client("late")
        await late.connect(await world.b.room())
        assert late.content() == "x" * 23
    finally:
        await world.close()


async def test_compaction_never_loses_an_update_that_races_it() -> None:
    store = MemoryDocumentStore()
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    for char in "abc":
        text.insert(len(text), char)
    for update in updates[:2]:
        await store.append_update(DOC, update, "p", 1)

    load = store.load_log

    async def load_then_race(document_id: str, after: int = 0) -> Any:
        log = await load(document_id, after)
        await store.append_update(DOC, updates[2], "p", 2)  # lands mid-compaction
        return log

    store.load_log = load_then_race  # type: ignore[method-assign]
    result = await compact(store, DOC)
    store.load_log = load  # type: ignore[method-assign]
    assert result is not None
    assert result.upto_seq == 2
    assert await text_in_store(store) == "abc"
    # A second compactor that read the old snapshot loses the race, harmlessly.
    assert not await store.replace_log(DOC, 0, 3, b"\x00\x00")
    assert await text_in_store(store) == "abc"


async def test_rights_rechecked_live_on_every_node(world: World) -> None:
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room_a)
    await hugo.connect(room_b)

    world.auth.rights[("lea", DOC)] = Access.READ  # document locked
    world.auth.rights[("hugo", DOC)] = Access.NONE  # removed from the group
    await world.a.rooms.rights_changed(DOC)
    await settle(lea, hugo, until=lambda: hugo.closed_with is not None)
    assert hugo.closed_with == CLOSE_FORBIDDEN
    assert lea.access is Access.READ
    assert lea.denied == ["forbidden: read-only from now on"]
    await lea.edit(0, "trop tard")
    assert lea.denied[-1].startswith("forbidden: read-only")
    assert await text_in_store(world.store) == ""


async def test_server_update_reaches_every_connection(world: World) -> None:
    room_b = await world.b.room()
    hugo = world.client("hugo")
    await hugo.connect(room_b)
    restored: Doc[Any] = Doc()
    restored.get("content", type=Text).insert(0, "restauré")
    seq = await world.a.rooms.server_update(DOC, restored.get_update(), "teacher")
    assert seq == 1
    assert DOC not in world.a.rooms.rooms  # opened for the update, closed after
    await settle(hugo, until=lambda: hugo.content() == "restauré")


def test_yrs_loses_content_when_pending_updates_stack_up() -> None:
    """Why rooms apply other nodes' updates in seq order (pycrdt 0.14 / yrs 0.28)."""
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    for index, char in [(0, "a"), (0, "b"), (0, "c"), (0, "d"), (3, "e")]:
        text.insert(index, char)
    in_order: Doc[Any] = Doc()
    for update in updates:
        in_order.apply_update(update)
    assert str(in_order.get("content", type=Text)) == "dcbea"
    stacked: Doc[Any] = Doc()
    for i in (0, 1, 3, 4, 2):  # 3 and 4 wait for 2
        stacked.apply_update(updates[i])
    assert str(stacked.get("content", type=Text)) == "cbea"  # "d" is lost


async def test_updates_from_other_nodes_wait_for_the_gap(world: World) -> None:
    room_b = await world.b.room()
    hugo = world.client("hugo")
    await hugo.connect(room_b)
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    for index, char in [(0, "a"), (0, "b"), (0, "c"), (0, "d"), (3, "e")]:
        text.insert(index, char)
    # Stored in order, delivered by the broker out of order: 1, 2, 4, 5 then 3.
    for seq, update in enumerate(updates, start=1):
        assert await world.store.append_update(DOC, update, "lea", 1) == seq
    for seq in (1, 2, 4, 5):
        room_b._integrate(seq, updates[seq - 1], origin=None)
    # Not applied: they would stack up pending.
    assert [seq for seq, _ in room_b.feed.held_items()] == [4, 5]
    assert room_b.head == 2
    room_b._integrate(3, updates[2], origin=None)
    assert room_b.head == 5
    assert not room_b.feed.waiting
    assert str(room_b.doc.get("content", type=Text)) == "dcbea"
    await hugo.pump()
    assert hugo.content() == "dcbea"


# Found by fuzzing (mutated updates of one Y.Text): it decodes, but yrs refuses
# to integrate it after BASE ("block parent must be deleted or shared").
BASE = bytes.fromhex("010191bfe5a896ef890400040107636f6e74656e740361626300")
DECODES_BUT_FAILS = bytes.fromhex("010166bfe5a896ef8904034491bfe5a896ef8904000361ff6300")


def _two_updates() -> tuple[bytes, bytes]:
    """"ab", then "c" typed after it: the second builds on the first."""
    doc: Doc[Any] = Doc()
    made: list[bytes] = []
    subscription = doc.observe(lambda event: made.append(event.update))
    text = doc.get("content", type=Text)
    text.insert(0, "ab")
    text.insert(2, "c")
    doc.unobserve(subscription)
    return made[0], made[1]


async def test_an_update_sent_before_its_base_waits_for_it(world: World) -> None:
    """A stock client that types before it answered the server's SyncStep1
    sends that edit before the offline ones it builds on: it waits, unseen."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    first, second = _two_updates()
    await room.receive(lea, codec.update(second))
    await hugo.pump()
    await lea.pump()
    assert hugo.content() == ""
    assert not lea.denied
    assert not (await world.store.load_log(DOC)).updates
    await room.receive(lea, codec.update(first))
    await hugo.pump()
    assert hugo.content() == "abc"
    assert str(room.doc.get("content", type=Text)) == "abc"
    assert len((await world.store.load_log(DOC)).updates) == 2
    assert not lea.denied


async def test_an_update_whose_base_never_comes_is_refused(world: World) -> None:
    room = await world.a.room()
    room.limits = dataclasses.replace(room.limits, wait_for_base_s=0.01)
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    _, second = _two_updates()
    await room.receive(lea, codec.update(second))
    await settle(lea, until=lambda: bool(lea.denied))
    assert lea.denied == ["bad_request: this change builds on changes the document does not"
                          " have [refused-edit]"]
    await hugo.pump()
    assert hugo.content() == ""
    assert not (await world.store.load_log(DOC)).updates


async def test_a_poisoned_update_is_refused_and_never_stored_nor_relayed(world: World) -> None:
    """An insertion inside an emoji (preau/collab/integrity.py): refused, and the
    sender's copy is diverged (its later changes are refused too)."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await lea.edit(0, "é😀x")
    await hugo.pump()
    assert hugo.content() == "é😀x"
    stored = len((await world.store.load_log(DOC)).updates)
    client = lea.doc.client_id
    split = (b"\x01\x01" + codec.var_uint(client) + codec.var_uint(3) + b"\xc4"
             + codec.var_uint(client) + codec.var_uint(1) + codec.var_uint(client)
             + codec.var_uint(2) + codec.var_bytes(b"Z") + b"\x00")
    await room.receive(lea, codec.update(split))
    await lea.pump()
    assert lea.denied == ["bad_request: this change would break the document for the others"
                          " (an insertion splits a character in two) [refused-edit]"]
    await hugo.pump()
    assert hugo.content() == "é😀x"
    assert len((await world.store.load_log(DOC)).updates) == stored


async def test_a_reopened_room_indexes_its_stored_log_before_checking_an_update(
    world: World,
) -> None:
    """A room opened on a stored log syncs joiners from the replica at once and
    notes the log in its integrity index only when an update needs it: the
    same insertion inside an emoji is refused there too."""
    room = await world.a.room()
    lea = world.client("lea")
    await lea.connect(room)
    await lea.edit(0, "é😀x")
    client = lea.doc.client_id
    await lea.disconnect()
    await world.a.rooms.leave(room, lea)
    assert DOC not in world.a.rooms.rooms
    reopened = await world.b.room()
    assert reopened._unindexed  # not parsed for the joiner's sync
    hugo = world.client("hugo")
    await hugo.connect(reopened)
    await hugo.pump()
    assert hugo.content() == "é😀x"
    stored = len((await world.store.load_log(DOC)).updates)
    split = (b"\x01\x01" + codec.var_uint(client) + codec.var_uint(3) + b"\xc4"
             + codec.var_uint(client) + codec.var_uint(1) + codec.var_uint(client)
             + codec.var_uint(2) + codec.var_bytes(b"Z") + b"\x00")
    await reopened.receive(hugo, codec.update(split))
    await hugo.pump()
    assert hugo.denied == ["bad_request: this change would break the document for the others"
                           " (an insertion splits a character in two) [refused-edit]"]
    assert not reopened._unindexed
    assert len((await world.store.load_log(DOC)).updates) == stored


async def test_an_update_yrs_refuses_is_never_stored_nor_relayed(world: World) -> None:
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await room.receive(lea, codec.update(BASE))
    await hugo.pump()
    assert hugo.content() == "abc"
    room.limits = dataclasses.replace(room.limits, wait_for_base_s=0.01)
    await room.receive(lea, codec.update(DECODES_BUT_FAILS))
    # Its struct starts far beyond anything the document holds: it waits for
    # Léa to send what it builds on (she never does), then is refused, never
    # having been given to yrs.
    await settle(lea, until=lambda: bool(lea.denied))
    assert lea.denied == ["bad_request: this change builds on changes the document does not"
                          " have [refused-edit]"]
    stored = await world.store.load_log(DOC)
    assert [u for _, u in stored.updates] == [BASE]
    assert room._rebuild_task is None  # nothing half-integrated to undo
    assert str(room.doc.get("content", type=Text)) == "abc"
    # The room still works (Léa's copy, which sent it, is refused from now on).
    await hugo.edit(3, "d")
    assert str(room.doc.get("content", type=Text)) == "abcd"


async def test_an_update_built_on_what_this_node_lacks_makes_it_read_the_store_first(
    world: World,
) -> None:
    """Léa saw Hugo's update on node A and sends an edit built on it to node B,
    which has not received Hugo's update (broker loss) and is not given it by
    Léa either (a stock provider would push it in its SyncStep2; this client
    skips that step). Node B reads the store, where Hugo's update is, before
    it checks her edit (preau/collab/integrity.py: nothing is kept pending)."""
    room_a, room_b = await world.a.room(), await world.b.room()
    hugo, lea = world.client("hugo"), world.client("lea")
    await hugo.connect(room_a)
    await lea.connect(room_a)

    async def lost(channel: str, payload: bytes) -> None:
        return None  # node A's messages never reach node B: only the store can

    world.a.broker.publish = lost  # type: ignore[method-assign]
    await hugo.edit(0, "Hugo ")
    await lea.pump()
    assert lea.content() == "Hugo "
    await lea.disconnect()
    lea.room = room_b
    room_b.join(lea)
    lea.inbox.clear()  # no handshake answer: B learns nothing from Léa's state
    await lea.edit(5, "et Léa")
    assert str(room_b.doc.get("content", type=Text)) == "Hugo et Léa"
    assert room_b._rebuild_task is None
    assert await text_in_store(world.store) == "Hugo et Léa"


async def test_awareness_names_are_the_real_ones(world: World) -> None:
    """Editors show ``user.name`` by each cursor: a pupil cannot appear as a teacher."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await room.receive(lea, codec.awareness([
        codec.AwarenessEntry(1, 1, '{"user":{"name":"Mme Lefèvre","color":"#123456"}}'),
        codec.AwarenessEntry(2, 1, '{"user":"Mme Lefèvre"}'),
        codec.AwarenessEntry(3, 1, '{"cursor":{"anchor":4}}'),  # no name shown: untouched
    ]))
    await hugo.pump()
    assert hugo.awareness == {
        1: '{"user":{"name":"Name of lea","color":"#123456"}}',
        2: '{"user":{"name":"Name of lea"}}',
        3: '{"cursor":{"anchor":4}}',
    }


async def test_an_oversize_awareness_message_is_refused_before_it_is_decoded() -> None:
    # issue 21: 1 MB of awareness entries used to be decoded (JSON by JSON)
    # before the size check, stalling the node. The frame below would take
    # seconds to decode; it is refused on its length alone.
    world = World(Limits())
    try:
        room = await world.a.room()
        lea = world.client("lea")
        await lea.connect(room)
        entries = [codec.AwarenessEntry(1000 + i, 1, '{"user":{"name":"' + "x" * 40 + '"}}')
                   for i in range(20_000)]
        frame = codec.awareness(entries)
        assert len(frame) > 1_000_000
        assert await room.receive(lea, frame) is True  # charged like any frame
        await lea.pump()
        assert lea.denied[-1] == "too_large: awareness larger than 16384 bytes"
        assert lea.closed_with is None
    finally:
        await world.close()


async def test_deeply_nested_awareness_is_a_bad_request_not_a_crash() -> None:
    world = World(Limits())
    try:
        room = await world.a.room()
        lea = world.client("lea")
        await lea.connect(room)
        nested = "[" * 6000 + "]" * 6000
        frame = codec.awareness([codec.AwarenessEntry(77, 1, nested)])
        assert len(frame) < 16 * 1024
        await room.receive(lea, frame)
        await lea.pump()
        assert lea.denied[-1] == "bad_request: bad_awareness: awareness state is not JSON"
        assert lea.closed_with is None
        await lea.edit(0, "toujours là")  # the connection still works
        assert await text_in_store(world.store) == "toujours là"
    finally:
        await world.close()


async def test_an_update_being_stored_while_the_replica_is_rebuilt_is_not_lost(
        world: World) -> None:
    """A rebuild (after a refused integration) that swaps the replica while a
    writer's update is being appended: the update was applied to the old
    replica, the store read by the rebuild did not hold it yet. The new
    replica must take it too: without it, a late joiner does not see it and
    every later edit built on it waits for a base that never comes (the
    damaged-updates live test saw a stock client's text lost so)."""
    room = await world.a.room()
    lea, hugo = world.client("lea"), world.client("hugo")
    await lea.connect(room)
    await hugo.connect(room)
    await lea.edit(0, "abc")
    append = world.store.append_update
    started, release = asyncio.Event(), asyncio.Event()

    async def held_append(*args: Any) -> int:
        started.set()
        await release.wait()
        return await append(*args)

    world.store.append_update = held_append  # type: ignore[method-assign]
    sending = asyncio.create_task(lea.edit(3, "d"))
    await started.wait()  # "d" is in the old replica, not yet in the store
    room._schedule_rebuild()
    assert room._rebuild_task is not None
    await room._rebuild_task  # the new replica, from a store without "d"
    world.store.append_update = append  # type: ignore[method-assign]
    release.set()
    await sending
    await settle(lea, hugo, until=lambda: hugo.content() == "abcd")
    assert str(room.doc.get("content", type=Text)) == "abcd"
    late = world.client("late")
    await late.connect(room)
    assert late.content() == "abcd"
    await lea.edit(4, "e")  # builds on "d": taken at once, not left waiting
    await settle(lea, hugo, late, until=lambda: late.content() == "abcde")
    assert lea.denied == []
    assert await text_in_store(world.store) == "abcde"


async def test_relays_wait_while_rights_are_reread_and_go_to_whoever_is_left(
        world: World) -> None:
    """A directory change made on another node: its notice reaches this node,
    which reads the school again and re-checks every connection. Edits and
    cursors relayed meanwhile reached a socket whose rights were already gone
    (an outside probe on two nodes: a moved pupil's document socket got her
    old class's next edit before its 4403). The host holds the rooms' gate
    from the notice to the end of the re-check."""
    room_a, room_b = await world.a.room(), await world.b.room()
    lea, chloe, nathan = world.client("lea"), world.client("chloe"), world.client("nathan")
    await lea.connect(room_a)
    await chloe.connect(room_a)
    await nathan.connect(room_b)
    await nathan.edit(0, "avant ")
    await settle(lea, chloe, until=lambda: chloe.content() == "avant ")

    world.a.rooms.gate.hold()  # node a got the notice: Chloé moved away
    world.auth.rights[("chloe", DOC)] = Access.NONE
    await nathan.edit(len(nathan.text), "après")  # on node b, just after the change
    await room_b.receive(nathan, codec.awareness([codec.AwarenessEntry(9, 1, '{"a":1}')]))
    await asyncio.sleep(0.1)  # the broker brought both to node a
    await lea.pump()
    await chloe.pump()
    assert (lea.content(), chloe.content()) == ("avant ", "avant ")  # held
    assert 9 not in lea.awareness
    await world.a.rooms.recheck_all()  # the re-check: Chloé's socket closes
    assert chloe.closed_with == CLOSE_FORBIDDEN
    world.a.rooms.gate.release()
    await settle(lea, until=lambda: lea.content() == "avant après")
    assert 9 in lea.awareness  # in order, to whoever is left
    await chloe.pump()
    assert chloe.content() == "avant "
    # Open again: relays go at once.
    await nathan.edit(len(nathan.text), " !")
    await settle(lea, until=lambda: lea.content() == "avant après !")
