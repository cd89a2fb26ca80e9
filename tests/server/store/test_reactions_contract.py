"""Store contract for reactions on messages (SQLite and PostgreSQL): one of
each per person per message, idempotent both ways; counts and revisions exact
under concurrent changes from two nodes; gone with their message (redaction,
deletion) and with their person (erasure); exported."""

from __future__ import annotations

import asyncio

from preau.server.store import Store
from preau.server.store.privacy import PrivacyStore
from preau.server.store.reactions import Reactions
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


async def test_one_of_each_per_person_idempotent(room: Room) -> None:
    await room.post(room.lea, "t1")
    store = room.store
    added = await store.set_reaction(room.id, 1, room.hugo.id, "like", True, NOW)
    assert added is not None
    assert (added.sender_id, added.changed) == (room.lea.id, True)
    assert added.reactions == Reactions(1, 1, {"like": 1}, ("like",))
    again = await store.set_reaction(room.id, 1, room.hugo.id, "like", True, NOW + 1)
    assert again is not None
    assert not again.changed
    assert again.reactions == Reactions(1, 1, {"like": 1}, ("like",))  # revision unchanged
    await store.set_reaction(room.id, 1, room.hugo.id, "bravo", True, NOW + 2)
    claire = await store.set_reaction(room.id, 1, room.claire.id, "like", True, NOW + 3)
    assert claire is not None
    assert claire.reactions == Reactions(1, 3, {"bravo": 1, "like": 2}, ("like",))
    removed = await store.set_reaction(room.id, 1, room.hugo.id, "like", False, NOW + 4)
    assert removed is not None
    assert removed.changed
    assert removed.reactions == Reactions(1, 4, {"bravo": 1, "like": 1}, ("bravo",))
    gone = await store.set_reaction(room.id, 1, room.hugo.id, "like", False, NOW + 5)
    assert gone is not None
    assert not gone.changed
    assert gone.reactions.rev == 4

    # As each person sees them: the counts, their own.
    assert await store.reactions_of(room.id, [1, 2, 99], room.lea.id) == {
        1: Reactions(1, 4, {"bravo": 1, "like": 1}, ())}
    assert (await store.reactions_of(room.id, [1], room.claire.id))[1].mine == ("like",)
    assert await store.reactors(room.id, 1) == (
        room.lea.id, {"bravo": [room.hugo.id], "like": [room.claire.id]})
    # No such message: nothing written, nothing answered.
    for seq in (0, 2, 99):
        assert await store.set_reaction(room.id, seq, room.hugo.id, "like", True, NOW) is None
        assert await store.reactors(room.id, seq) is None
    assert await store.set_reaction("no-room", 1, room.hugo.id, "like", True, NOW) is None


async def test_exact_counts_from_two_nodes(room: Room, other_node: Store) -> None:
    await room.post(room.lea, "t1")
    nodes = [room.store, other_node]
    people = [room.lea.id, room.hugo.id, room.claire.id, room.anne.id]
    names = ["like", "love", "laugh", "wow", "sad", "bravo"]
    changes = [
        nodes[i % 2].set_reaction(
            room.id, 1, person, name, True, NOW + i)
        for i, (person, name) in enumerate((p, n) for p in people for n in names)
    ]
    results = await asyncio.gather(*changes)
    assert all(r is not None and r.changed for r in results)
    # Each change has its own revision, and the highest one carries every count.
    revs = sorted(r.reactions.rev for r in results if r is not None)
    assert revs == list(range(1, len(changes) + 1))
    last = max((r for r in results if r is not None), key=lambda r: r.reactions.rev)
    assert last.reactions.counts == dict.fromkeys(sorted(names), 4)
    # A later revision never carries fewer reactions (all were additions).
    for r in results:
        assert r is not None
        assert sum(r.reactions.counts.values()) == r.reactions.rev


async def test_changes_since_a_head_for_resumes(room: Room) -> None:
    store = room.store
    for txn in ("t1", "t2", "t3"):
        await room.post(room.lea, txn)
    await store.set_reaction(room.id, 1, room.hugo.id, "like", True, NOW)  # head 3
    await room.post(room.lea, "t4")
    await store.set_reaction(room.id, 2, room.hugo.id, "wow", True, NOW)  # head 4
    changed = await store.reactions_changed(room.id, 4, 0, room.hugo.id, 100)
    assert changed == [Reactions(2, 1, {"wow": 1}, ("wow",))]
    assert [r.seq for r in await store.reactions_changed(room.id, 3, 0, room.lea.id, 100)] \
        == [1, 2]
    assert [r.seq for r in await store.reactions_changed(room.id, 0, 1, room.lea.id, 100)] \
        == [2]
    assert [r.seq for r in await store.reactions_changed(room.id, 0, 0, room.lea.id, 1)] \
        == [2]  # the newest, when there are more


async def test_gone_with_the_message(room: Room) -> None:
    store = room.store
    await room.post(room.lea, "t1")
    await room.post(room.hugo, "t2")
    await store.set_reaction(room.id, 1, room.hugo.id, "love", True, NOW)
    await store.set_reaction(room.id, 2, room.lea.id, "love", True, NOW)
    result = await store.redact_message(room.id, 1, room.lea.id, False, None, "r-1", NOW + 1)
    assert result.created
    assert await store.reactions_of(room.id, [1, 2], room.hugo.id) == {
        2: Reactions(2, 1, {"love": 1}, ())}
    assert await store.reactors(room.id, 1) is None
    assert await store.set_reaction(room.id, 1, room.hugo.id, "like", True, NOW) is None
    assert await store.reactions_changed(room.id, 0, 0, room.hugo.id, 10) == [
        Reactions(2, 1, {"love": 1}, ())]


async def test_exported_and_erased_with_the_person(room: Room) -> None:
    store = room.store
    await room.post(room.lea, "t1")
    await room.post(room.claire, "t2")
    await store.set_reaction(room.id, 1, room.hugo.id, "bravo", True, NOW)
    await store.set_reaction(room.id, 2, room.hugo.id, "like", True, NOW + 1)
    await store.set_reaction(room.id, 2, room.lea.id, "like", True, NOW + 2)
    privacy = PrivacyStore(store.engine)
    exported = await privacy.export_relations(room.hugo.id)
    assert exported["reactions"] == [
        {"room": room.id, "seq": 1, "reaction": "bravo", "at": NOW},
        {"room": room.id, "seq": 2, "reaction": "like", "at": NOW + 1},
    ]
    person = await privacy.person(room.hugo.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", False, NOW + 3, "contributions")
    assert (await privacy.erasure_step(job, "contributions", "identity", NOW + 4))[0]
    assert (await store.reactors(room.id, 2)) == (room.claire.id, {"like": [room.lea.id]})
    assert (await store.reactors(room.id, 1)) == (room.lea.id, {})
    # The counts changed: new revisions, which a resume repaints.
    assert await store.reactions_of(room.id, [1, 2], room.lea.id) == {
        1: Reactions(1, 2, {}, ()), 2: Reactions(2, 3, {"like": 1}, ("like",))}
