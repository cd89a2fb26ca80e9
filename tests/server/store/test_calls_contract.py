"""The call state store (preau/server/store/calls.py), on SQLite and on PostgreSQL:
rows round-trip, transitions commit or roll back whole, the school's seats are
counted across calls, two nodes' concurrent joins never lose a seat."""

from __future__ import annotations

import asyncio

import pytest

from preau.rtc import room as rtc
from preau.rtc.room import CallRefused, CallState, Joiner, Role
from preau.server.store import Store
from preau.server.store.calls import CallStore, Transition
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


def new_call(room: Room, call_id: str = "c1") -> CallState:
    return CallState(call_id, room.school, room.id, "6A", room.claire.id, NOW, None)


def joiner(person: str, peer: str, node: str = "n1") -> Joiner:
    return Joiner(peer, person, person, Role.VIEWER, False, node, "conn-" + peer)


def seat(person: str, peer: str, node: str = "n1") -> Transition:
    return lambda s, _o: rtc.join(s, joiner(person, peer, node), NOW, capacity=10,
                                  mesh_size=4)


async def test_a_call_round_trips_and_changes_in_one_transaction(
    room: Room, other_node: Store
) -> None:
    calls, elsewhere = CallStore(room.store.engine), CallStore(other_node.engine)
    await calls.create(new_call(room), NOW)
    assert await elsewhere.get("c1") == new_call(room)
    assert await calls.get("nope") is None
    before, outcome = await calls.update("c1", seat(room.lea.id, "pA"), NOW) or (None, None)
    assert before == new_call(room)
    assert outcome is not None
    stored = await elsewhere.get("c1")
    assert stored == outcome.state
    assert stored.version == 1
    assert [s.person for s in stored.seated()] == [room.lea.id]
    # A refused transition writes nothing.
    with pytest.raises(CallRefused):
        await calls.update("c1", lambda s, _o: rtc.leave(s, "pNobody"), NOW)
    assert await elsewhere.get("c1") == stored
    assert [c.id for c in await elsewhere.open_in_room(room.id)] == ["c1"]
    assert [c.id for c in await elsewhere.open_with_node("n1")] == ["c1"]
    assert await elsewhere.open_with_node("n2") == []
    assert await calls.update("nope", seat(room.lea.id, "pX"), NOW) is None


async def test_the_school_count_spans_calls_and_ends_with_them(room: Room) -> None:
    calls = CallStore(room.store.engine)
    await calls.create(new_call(room, "c1"), NOW)
    await calls.create(new_call(room, "c2"), NOW)
    await calls.update("c1", seat(room.lea.id, "pA"), NOW)
    await calls.update("c1", seat(room.hugo.id, "pB"), NOW)
    seen: list[int] = []

    def count(state: CallState, others: int) -> rtc.Outcome:
        seen.append(others)
        return rtc.join(state, joiner(room.claire.id, "pC"), NOW, capacity=10, mesh_size=4)

    await calls.update("c2", count, NOW)
    assert seen == [2]
    assert await calls.school_seats(room.school) == 3
    await calls.update("c1", lambda s, _o: rtc.leave(s, "pA"), NOW)
    await calls.update("c1", lambda s, _o: rtc.leave(s, "pB"), NOW)  # empty: ended
    assert (await calls.get("c1")).status is rtc.Status.ENDED  # type: ignore[union-attr]
    assert await calls.school_seats(room.school) == 1
    assert [c.id for c in await calls.open_in_room(room.id)] == ["c2"]


async def test_concurrent_joins_on_two_nodes_keep_every_seat(
    room: Room, other_node: Store
) -> None:
    a, b = CallStore(room.store.engine), CallStore(other_node.engine)
    await a.create(new_call(room), NOW)
    people = [room.lea.id, room.hugo.id, room.claire.id, room.anne.id]
    await asyncio.gather(*(
        (a if i % 2 else b).update("c1", seat(person, f"p{i}", f"n{i % 2}"), NOW)
        for i, person in enumerate(people)
    ))
    final = await a.get("c1")
    assert final is not None
    assert sorted(s.person for s in final.seated()) == sorted(people)
    assert final.version == 4


async def test_idle_open_calls(room: Room) -> None:
    calls = CallStore(room.store.engine)
    await calls.create(new_call(room, "c-old"), NOW)
    await calls.create(new_call(room, "c-new"), NOW + 60_000)
    await calls.create(new_call(room, "c-busy"), NOW)
    await calls.update("c-busy", seat(room.lea.id, "pA"), NOW)
    assert await calls.idle_open(NOW + 1) == ["c-old"]
    await calls.update("c-old", lambda s, _o: rtc.end_if_idle(s), NOW + 2)
    assert await calls.idle_open(NOW + 120_000) == ["c-new"]


async def test_node_heartbeats(room: Room) -> None:
    calls = CallStore(room.store.engine)
    await calls.heartbeat("n1", NOW)
    await calls.heartbeat("n2", NOW + 10_000)
    await calls.heartbeat("n1", NOW + 1)  # an update, not a second row
    assert await calls.silent_nodes(NOW + 5_000) == {"n1"}
    await calls.forget_node("n1")
    assert await calls.silent_nodes(NOW + 20_000) == {"n2"}
