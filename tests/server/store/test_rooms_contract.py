"""The Store's rooms and messages contract (gapless sequences, idempotent
appends, paging; private conversations and parents' rooms), on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from preau.server.directory.model import RoomKind
from preau.server.store import Message, Store
from preau.server.store.factory import open_store
from tests.server.store.contract import (
    NOW,
    by_external_id,
    class_id,
    class_room,
    import_and_load,
    make_batch,
    parent,
    pupil,
    seeded_room,
    send,
    teacher,
)

# -- chat --------------------------------------------------------------------


async def test_sequences_are_gapless_per_room(store: Store) -> None:
    _, view = await import_and_load(
        store, make_batch(pupil("p1", "Léa", "Martin", "6A"), pupil("p2", "Hugo", "Roy", "6B"))
    )
    six_a, six_b = class_room(view, "6A"), class_room(view, "6B")
    sender = by_external_id(view)["p1"]
    for i in range(1, 6):
        message, created = await store.append_message(
            six_a, sender, f"t{i}", f"hello {i}", f"a{i}", NOW + i
        )
        assert created
        assert message == Message(six_a, i, f"a{i}", sender, f"t{i}", f"hello {i}", NOW + i)
        assert await store.room_head(six_a) == i
    # Each room counts on its own.
    message, _ = await store.append_message(six_b, sender, "t1", "other room", "b1", NOW)
    assert message.seq == 1
    assert await store.room_head(six_a) == 5


async def test_retry_is_idempotent_and_consumes_no_seq(store: Store) -> None:
    room, sender = await seeded_room(store)
    first, created = await store.append_message(room, sender, "txn-1", "hello", "id-1", NOW)
    assert created
    assert first.seq == 1
    retry, created = await store.append_message(room, sender, "txn-1", "edited?", "id-2", NOW + 9)
    assert not created
    assert retry == first  # the message first stored, not the retry's content
    assert await store.room_head(room) == 1
    # The same txn from another sender is another message.
    other, created = await store.append_message(room, "someone-else", "txn-1", "hi", "id-3", NOW)
    assert created
    assert other.seq == 2
    following, _ = await send(store, room, sender, "txn-2")
    assert following.seq == 3
    assert [m.seq for m in await store.messages_after(room, 0, 10)] == [1, 2, 3]


async def test_concurrent_appends_are_gapless(store: Store) -> None:
    room, sender = await seeded_room(store)
    txns = [f"t{i % 35}" for i in range(50)]  # 15 of the 50 sends are retries
    results = await asyncio.gather(*(send(store, room, sender, txn) for txn in txns))

    assert sum(created for _, created in results) == 35
    assert sorted(m.seq for m, created in results if created) == list(range(1, 36))
    by_txn: dict[str, Message] = {}
    for message, _ in results:
        assert by_txn.setdefault(message.txn, message) == message  # retries see the same one
    assert await store.room_head(room) == 35
    stored = await store.messages_after(room, 0, 100)
    assert [m.seq for m in stored] == list(range(1, 36))
    assert {m.txn for m in stored} == set(txns)


async def test_two_nodes_append_concurrently(store: Store, store_url: str) -> None:
    room, sender = await seeded_room(store)
    other_node = await open_store(store_url)
    try:
        results = await asyncio.gather(
            *(send(store if i % 2 else other_node, room, sender, f"t{i % 20}") for i in range(40))
        )
    finally:
        await other_node.close()
    assert sorted(m.seq for m, created in results if created) == list(range(1, 21))
    assert [m.seq for m in await store.messages_after(room, 0, 100)] == list(range(1, 21))


async def test_cancelled_sends_leave_no_gap(store: Store) -> None:
    # A client that hangs up mid-send cancels its task at any await point of
    # the transaction: what was committed stays gapless, the rest vanishes,
    # and the store (its connection or pool) stays usable.
    room, sender = await seeded_room(store)
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(send(store, room, sender, f"t{i}")) for i in range(60)]
    for i, task in enumerate(tasks):
        if i % 3 == 0:
            loop.call_later(0.0003 * i, task.cancel)
    # An engine may commit faster than any timer fires (SQLite runs short
    # transactions inline): cancel one before it even starts, too.
    tasks[1].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert any(isinstance(o, asyncio.CancelledError) for o in outcomes)

    stored = await store.messages_after(room, 0, 100)
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    assert await store.room_head(room) == len(stored)
    finished = {o[0].txn for o in outcomes if isinstance(o, tuple)}
    assert finished <= {m.txn for m in stored}
    message, created = await send(store, room, sender, "after")
    assert created
    assert message.seq == len(stored) + 1


async def test_paging(store: Store) -> None:
    room, sender = await seeded_room(store)
    for i in range(1, 11):
        await send(store, room, sender, f"t{i}")

    async def after(seq: int, limit: int) -> list[int]:
        return [m.seq for m in await store.messages_after(room, seq, limit)]

    async def before(seq: int, limit: int) -> list[int]:
        return [m.seq for m in await store.messages_before(room, seq, limit)]

    assert await after(0, 3) == [1, 2, 3]
    assert await after(3, 3) == [4, 5, 6]
    assert await after(8, 5) == [9, 10]
    assert await after(10, 5) == []
    assert await after(0, 0) == []
    assert await before(11, 3) == [8, 9, 10]  # the newest page, oldest first
    assert await before(8, 3) == [5, 6, 7]
    assert await before(3, 5) == [1, 2]
    assert await before(1, 5) == []
    assert await before(11, 0) == []
    assert await before(11, -1) == []
    page = await store.messages_after(room, 4, 1)
    assert page == [Message(room, 5, "m-t5", sender, "t5", "body of t5", NOW)]


async def test_unknown_room(store: Store) -> None:
    room, sender = await seeded_room(store)
    with pytest.raises(LookupError):
        await store.append_message("no-such-room", sender, "t", "hi", "id", NOW)
    assert await store.get_room("no-such-room") is None
    assert await store.room_head("no-such-room") == 0
    assert await store.messages_after("no-such-room", 0, 10) == []
    assert await store.messages_before("no-such-room", 10, 10) == []
    # The store is still usable, and the failed send left no trace.
    message, created = await send(store, room, sender, "t")
    assert created
    assert message.seq == 1


# -- conversations and parents' rooms -------------------------------------


async def _school(store: Store) -> tuple[str, dict[str, str], str]:
    _, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        parent("r1", "Camille", "Martin", "p1"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
    ))
    return view.school.id, by_external_id(view), class_id(view, "6A")


async def test_open_conversation_lists_members_and_reads_back(store: Store) -> None:
    school, ids, _ = await _school(store)
    people = frozenset({ids["r1"], ids["t1"]})
    room, created = await store.open_conversation(school, people, "C, C", None, NOW)
    assert created
    assert room.kind is RoomKind.PRIVATE
    assert room.members == people
    assert await store.get_room(room.id) == room
    assert await store.conversations_of(ids["r1"]) == [room]
    assert await store.conversations_of(ids["p1"]) == []
    # It reuses the chat pipeline: seq, idempotent append, history.
    message, fresh = await send(store, room.id, ids["r1"], "t-1")
    assert fresh
    assert message.seq == 1
    assert (await send(store, room.id, ids["r1"], "t-1"))[1] is False
    assert [m.seq for m in await store.messages_after(room.id, 0, 10)] == [1]
    # Private conversations are not part of the cached school view.
    view = await store.load_school(school)
    assert view is not None
    assert room.id not in view.rooms


async def test_conversations_closed_since_give_their_readers_and_reason(store: Store) -> None:
    school, ids, _ = await _school(store)
    people = frozenset({ids["r1"], ids["t1"], ids["p1"]})
    old, _ = await store.open_conversation(school, people, "old", None, NOW)
    new, _ = await store.open_conversation(school, people, "new", None, NOW)
    assert await store.close_conversation(old.id, "relation_ended", people, NOW + 10)
    readers = frozenset({ids["r1"], ids["t1"]})  # p1 may no longer read it
    assert await store.close_conversation(new.id, "rules_changed", readers, NOW + 20)
    found = await store.conversations_closed_since(NOW + 15)
    assert [(room.id, room.members, room.closed, reason) for room, reason in found] == [
        (new.id, readers, True, "rules_changed")]
    assert [room.id for room, _ in await store.conversations_closed_since(NOW)] == [
        old.id, new.id]


async def test_one_to_one_pair_key_returns_the_same_conversation(store: Store) -> None:
    school, ids, _ = await _school(store)
    people = frozenset({ids["r1"], ids["t1"]})
    key = "|".join(sorted(people))
    first, created = await store.open_conversation(school, people, "x", key, NOW)
    again, created_again = await store.open_conversation(school, people, "x", key, NOW + 1)
    assert created
    assert not created_again
    assert again == first
    # A group with the same people but no key is a new conversation.
    group, made = await store.open_conversation(school, people, "x", None, NOW)
    assert made
    assert group.id != first.id
    assert len(await store.conversations_of(ids["t1"])) == 2


async def test_concurrent_one_to_one_opens_make_one_conversation(store: Store) -> None:
    school, ids, _ = await _school(store)
    people = frozenset({ids["r1"], ids["t1"]})
    key = "|".join(sorted(people))
    results = await asyncio.gather(
        *(store.open_conversation(school, people, "x", key, NOW) for _ in range(5))
    )
    assert len({room.id for room, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_parents_room_is_idempotent_and_bumps_the_directory(store: Store) -> None:
    school, _, klass = await _school(store)
    before = (await store.directory_versions())[school]
    room, created = await store.ensure_parents_room(school, klass, NOW)
    assert created
    assert room.kind is RoomKind.PARENTS
    assert room.class_id == klass
    assert room.name == "Parents 6A"
    again, created_again = await store.ensure_parents_room(school, klass, NOW)
    assert again == room
    assert not created_again
    assert (await store.directory_versions())[school] == before + 1
    view = await store.load_school(school)
    assert view is not None
    assert view.rooms[room.id] == room
    assert await store.get_room(room.id) == room
    with pytest.raises(LookupError):
        await store.ensure_parents_room(school, "no-such-class", NOW)


async def test_search_finds_words_in_a_rooms_live_messages(store: Store) -> None:
    room, sender = await seeded_room(store)
    bodies = ["Sortie au Musée jeudi", "rendez-vous devant le musée", "Réussite à 100% !",
              "100 pour cent", "autre chose", "le musée_du_coin", "ce musée ferme"]
    for i, body in enumerate(bodies, start=1):
        await store.append_message(room, sender, f"t{i}", body, f"m{i}", NOW + i)
    await store.redact_message(room, 7, sender, True, None, "r1", NOW + 20)
    found = await store.search_messages(room, "MUSÉE", 10)
    # Case folded; a redacted message is never found (its text is gone).
    assert [m.seq for m in found] == [1, 2, 6]
    assert [m.seq for m in await store.search_messages(room, "musée", 2)] == [2, 6]  # newest
    # % and _ are letters, not patterns.
    assert [m.seq for m in await store.search_messages(room, "100%", 10)] == [3]
    assert [m.seq for m in await store.search_messages(room, "e_d", 10)] == [6]
    assert await store.search_messages(room, "introuvable", 10) == []
    assert await store.search_messages(room, "", 10) == []
