"""Store contract for private conversations and parents' rooms (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from server.directory.model import RoomKind
from server.store import Store
from tests.server.store.test_contract import (
    NOW,
    by_external_id,
    class_id,
    import_and_load,
    make_batch,
    parent,
    pupil,
    send,
    teacher,
)


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
