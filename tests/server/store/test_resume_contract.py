"""Store contract for a resume with ``since`` (SQLite and PostgreSQL): the
room's head, the missed messages, and the reactions and edits changed
meanwhile, from one read, equal to what the separate reads return."""

from __future__ import annotations

from preau.server.chat.editing import edit_message
from preau.server.directory.model import Profile
from preau.server.store import Resume
from tests.server.store.contract import NOW, Room, room

__all__ = ["room"]  # fixtures


async def test_one_read_equals_the_separate_ones(room: Room) -> None:
    store = room.store
    for txn in ("t1", "t2", "t3"):
        await room.post(room.lea, txn)
    await store.set_reaction(room.id, 1, room.hugo.id, "like", True, NOW)  # head 3
    await room.post(room.lea, "t4")
    await store.set_reaction(room.id, 2, room.hugo.id, "wow", True, NOW)  # head 4
    edited = await edit_message(store, room.id, 3, room.lea.id, Profile.PUPIL, False,
                                "trois", NOW + 1)
    assert edited.edit is not None
    for since, after in ((3, 3), (4, 4), (0, 0), (2, 1)):
        resume = await store.resume(room.id, since, after, room.hugo.id, 100)
        assert resume == Resume(
            4,
            await store.messages_after(room.id, after, 100),
            await store.reactions_changed(room.id, since, 0, room.hugo.id, 100),
            await store.edits_changed(room.id, since, 100),
        )
    # The first ``limit`` messages, the newest ``limit`` repaints.
    page = await store.resume(room.id, 0, 0, room.hugo.id, 2)
    assert [m.seq for m in page.messages] == [1, 2]
    assert [r.seq for r in page.reactions] == [1, 2]
    # Beyond the head, or an unknown room: the head only.
    assert await store.resume(room.id, 5, 5, room.hugo.id, 100) == Resume(4, [], [], [])
    assert await store.resume("nowhere", 0, 0, room.hugo.id, 100) == Resume(0, [], [], [])
