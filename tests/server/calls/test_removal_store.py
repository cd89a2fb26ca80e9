"""The call store reads a member's removal from the class room (SQLite and
PostgreSQL): with the state in one statement, and under the school's lock for
a guarded transition, which then writes nothing."""

from __future__ import annotations

import pytest

from preau.rtc import room as rtc
from preau.rtc.room import CallState, Joiner, Role
from preau.server.store import AuditAction, Store
from preau.server.store.calls import CallStore, RemovedFromRoom, Transition
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


def seat(person: str, peer: str) -> Transition:
    who = Joiner(peer, person, person, Role.VIEWER, False, "n1", "conn-" + peer)
    return lambda s, _o: rtc.join(s, who, NOW, capacity=10, mesh_size=4)


async def test_a_removal_is_read_with_the_call_and_guards_transitions(
    room: Room, other_node: Store,
) -> None:
    calls, elsewhere = CallStore(room.store.engine), CallStore(other_node.engine)
    call = CallState("c1", room.school, room.id, "6A", room.claire.id, NOW, None)
    await calls.create(call, NOW)
    await calls.update("c1", seat(room.hugo.id, "pH"), NOW)
    state, removed = await elsewhere.get_for("c1", room.lea.id)
    assert state is not None
    assert not removed
    assert not await elsewhere.removed_from(room.id, room.lea.id)
    assert await elsewhere.get_for("nope", room.lea.id) == (None, False)

    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_REMOVE, None, None, NOW)
    assert (await elsewhere.get_for("c1", room.lea.id))[1]
    assert not (await elsewhere.get_for("c1", room.hugo.id))[1]
    assert await elsewhere.removed_from(room.id, room.lea.id)
    with pytest.raises(RemovedFromRoom):
        await elsewhere.update("c1", seat(room.lea.id, "pL"), NOW, unless_removed=room.lea.id)
    after = await calls.get("c1")
    assert after is not None
    assert set(after.seats) == {"pH"}  # nothing written
    # Someone else's transition is not guarded by her removal.
    result = await elsewhere.update("c1", seat(room.lea.id, "pL"), NOW,
                                    unless_removed=room.hugo.id)
    assert result is not None

    await room.store.moderate_member(room.id, room.claire.id, room.lea.id,
                                     AuditAction.MEMBER_READMIT, None, None, NOW)
    assert not await elsewhere.removed_from(room.id, room.lea.id)
    assert not (await elsewhere.get_for("c1", room.lea.id))[1]
