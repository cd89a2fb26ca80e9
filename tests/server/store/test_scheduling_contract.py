"""Store contract for quiet hours, announcements, read markers and school
settings (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count

from preau.server.chat.posting import post_message
from preau.server.directory.model import Profile, RoomKind
from preau.server.errors import ErrorCode
from preau.server.moderation.rules import PolicyChange
from preau.server.store import (
    AuditAction,
    AuditQuery,
    Author,
    Message,
    PostOptions,
    PostResult,
    Store,
)
from tests.server.store.contract import (
    by_external_id,
    class_id,
    class_room,
    import_and_load,
    make_batch,
    parent,
    pupil,
    staff,
    teacher,
)

# Paris is UTC+1 in January: 21:00 local is 20:00 UTC; the window opens at 06:00 UTC.
EVENING = int(datetime(2027, 1, 12, 20, 0, tzinfo=UTC).timestamp() * 1000)
MORNING = int(datetime(2027, 1, 13, 6, 0, tzinfo=UTC).timestamp() * 1000)
NOON = int(datetime(2027, 1, 13, 11, 0, tzinfo=UTC).timestamp() * 1000)
PARIS = PostOptions(quiet_hours="07:00-20:00", timezone="Europe/Paris")
_ids = count()


class School:
    def __init__(self, store: Store, school: str, ids: dict[str, str], room: str, klass: str):
        self.store, self.id, self.ids, self.room, self.klass = store, school, ids, room, klass

    def author(self, ext: str, profile: Profile, moderator: bool = False) -> Author:
        return Author(self.ids[ext], profile, moderator)

    async def post(self, room: str, author: Author, txn: str, at: int,
                   options: PostOptions = PARIS, body: str = "") -> PostResult:
        n = next(_ids)
        options = PostOptions(options.quiet_hours, options.timezone, options.urgent,
                              options.ack_required, f"s-{n}")
        return await post_message(
            self.store, room, author, txn, body or f"body of {txn}", f"m-{n}", f"h-{n}", at,
            options, school_id=self.id,
        )


async def release_due(
    store: Store, now_ms: int, limit: int, new_message_id: Callable[[], str]
) -> list[Message]:
    """What the delivery loop does (preau/server/chat/scheduler.py): post the
    due messages, in order, each by its id; those this call posted."""
    released = []
    for waiting in await store.due_scheduled(now_ms, limit):
        message = await store.release_waiting(waiting.room_id, waiting.id, new_message_id())
        if message is not None:
            released.append(message)
    return released


async def school(store: Store) -> School:
    _, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        pupil("p2", "Hugo", "Bernard", "6A"),
        parent("r1", "Camille", "Martin", "p1"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
        teacher("t2", "Julien", "Garnier", "6A"),
        staff("s1", "Anne", "Roux", is_admin=True),
    ))
    return School(store, view.school.id, by_external_id(view), class_room(view, "6A"),
                  class_id(view, "6A"))


async def test_a_class_room_post_in_the_evening_is_scheduled_for_the_morning(
    store: Store,
) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    result = await s.post(s.room, claire, "soir", EVENING)
    assert result.created
    assert result.message is None
    assert result.scheduled is not None
    assert result.scheduled.release_ms == MORNING
    # Committed, not on the timeline; the seq was given back.
    assert await store.room_head(s.room) == 0
    assert [w.txn for w in await store.scheduled_messages(s.room)] == ["soir"]
    assert await store.scheduled_messages(s.room, s.ids["p1"]) == []
    # Read by its id (however many wait): in its room only, and only while waiting.
    assert await store.scheduled_message(s.room, result.scheduled.id) == result.scheduled
    assert await store.scheduled_message("r-other", result.scheduled.id) is None
    assert await store.scheduled_message(s.room, "s-none") is None
    # A retry returns the scheduled message, never a second one.
    again = await s.post(s.room, claire, "soir", EVENING + 5)
    assert not again.created
    assert again.scheduled == result.scheduled
    # A day post goes out at once, and takes seq 1.
    day = await s.post(s.room, claire, "midi", NOON)
    assert day.message is not None
    assert day.message.seq == 1


async def test_release_posts_each_due_message_once_in_order(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    # A millisecond apart: messages written in the same one are released in
    # the order of their random ids (here "s-9" would follow "s-10").
    for i, txn in enumerate(("a", "b", "c")):
        await s.post(s.room, claire, txn, EVENING + i)
    assert await release_due(store, MORNING - 1, 10, lambda: "never") == []
    first = (await store.scheduled_messages(s.room))[0]
    assert await store.scheduled_message(s.room, first.id) == first
    names = (f"m-released-{i}" for i in range(10))
    released = await release_due(store, MORNING, 10, lambda: next(names))
    assert [(m.txn, m.seq) for m in released] == [("a", 1), ("b", 2), ("c", 3)]
    assert [m.created_ms for m in released] == [EVENING, EVENING + 1, EVENING + 2]  # when written
    assert await release_due(store, MORNING + 1, 10, lambda: "x") == []
    assert await store.scheduled_messages(s.room) == []
    assert await store.scheduled_message(s.room, first.id) is None  # posted: waits no more
    assert await store.release_waiting(s.room, first.id, "m-again") is None  # once only
    # A retry after delivery gets the posted message.
    retry = await s.post(s.room, claire, "a", NOON)
    assert retry.message is not None
    assert retry.message.seq == 1
    assert not retry.created


async def test_what_is_due_is_listed_in_the_order_it_is_released(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    # A millisecond apart: messages written in the same one are released in
    # the order of their random ids (here "s-9" would follow "s-10").
    for i, txn in enumerate(("a", "b", "c")):
        await s.post(s.room, claire, txn, EVENING + i)
    assert await store.due_scheduled(MORNING - 1, 10) == []
    assert [w.txn for w in await store.due_scheduled(MORNING, 10)] == ["a", "b", "c"]
    [first, second] = await store.due_scheduled(MORNING, 2)
    # One withdrawn (its author may no longer post): the others go, in order.
    assert await store.cancel_scheduled(s.room, second.id, claire.id) is not None
    released = await release_due(store, MORNING, 2, lambda: f"m-{next(_ids)}")
    assert [(m.txn, m.seq) for m in released] == [("a", 1), ("c", 2)]
    assert await store.due_scheduled(MORNING, 10) == []
    assert first.txn == "a"


async def test_concurrent_releases_post_each_message_exactly_once(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    for i in range(12):
        await s.post(s.room, claire, f"t{i}", EVENING)
    names = (f"m-c-{i}" for i in range(1000))
    batches = await asyncio.gather(*(
        release_due(store, MORNING, 4, lambda: next(names)) for _ in range(3)
    ))
    posted = [m for batch in batches for m in batch]
    assert len(posted) == len({m.txn for m in posted})  # no message twice
    while more := await release_due(store, MORNING, 4, lambda: next(names)):
        posted += more
    assert sorted(m.txn for m in posted) == sorted(f"t{i}" for i in range(12))
    assert [m.seq for m in await store.messages_after(s.room, 0, 50)] == list(range(1, 13))


async def test_who_waits_for_the_morning(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    julien = s.author("t2", Profile.TEACHER, moderator=True)
    camille = s.author("r1", Profile.PARENT)
    staff_only, _ = await store.open_conversation(
        s.id, frozenset({s.ids["t1"], s.ids["t2"]}), "C, J", None, EVENING)
    with_parent, _ = await store.open_conversation(
        s.id, frozenset({s.ids["t1"], s.ids["r1"]}), "C, C", None, EVENING)
    # Staff to staff: at once.
    assert (await s.post(staff_only.id, julien, "collègue", EVENING)).message is not None
    # To a parent: in the morning; from that parent to the teacher: at once
    # (only pupils and parents are protected by quiet hours).
    assert (await s.post(with_parent.id, claire, "parent", EVENING)).scheduled is not None
    assert (await s.post(with_parent.id, camille, "prof", EVENING)).message is not None


async def test_room_settings_and_urgent_messages(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    anne = s.author("s1", Profile.STAFF, moderator=True)
    # An admin's urgent message goes through, and the audit log says so.
    urgent = PostOptions(PARIS.quiet_hours, PARIS.timezone, urgent=True)
    result = await s.post(s.room, anne, "alerte", EVENING, urgent)
    assert result.message is not None
    audit = await store.audit_entries(s.id, AuditQuery(action=AuditAction.URGENT_MESSAGE))
    assert [(e.actor_id, e.target_seq) for e in audit] == [(s.ids["s1"], 1)]
    # A room without quiet hours, then with its own window.
    await store.set_room_policy(s.room, s.ids["t1"], PolicyChange(quiet_hours="off"), None,
                                EVENING)
    assert (await s.post(s.room, claire, "off", EVENING)).message is not None
    await store.set_room_policy(s.room, s.ids["t1"], PolicyChange(quiet_hours="08:00-22:00"),
                                None, EVENING)
    assert (await s.post(s.room, claire, "own", EVENING)).message is not None  # 21:00 < 22:00
    late = await s.post(s.room, claire, "late", EVENING + 2 * 3_600_000)  # 23:00 local
    assert late.scheduled is not None
    assert late.scheduled.release_ms == MORNING + 3_600_000  # 08:00 local
    # A school without quiet hours: nothing waits.
    off = PostOptions("off", "Europe/Paris")
    await store.set_room_policy(s.room, s.ids["t1"], PolicyChange(quiet_hours="school"), None,
                                EVENING)
    assert (await s.post(s.room, claire, "none", EVENING, off)).message is not None


async def test_announcements_and_acknowledgements(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    ack = PostOptions("off", "UTC", ack_required=True)
    posted = (await s.post(s.room, claire, "sortie", NOON, ack)).message
    plain = (await s.post(s.room, claire, "info", NOON)).message
    assert posted is not None
    assert posted.ack_required
    assert plain is not None
    assert not plain.ack_required
    assert [m.ack_required for m in await store.messages_after(s.room, 0, 5)] == [True, False]
    first = await store.acknowledge(s.room, 1, s.ids["p1"], NOON + 10)
    assert first is not None
    assert first[1:] == (NOON + 10, True)
    again = await store.acknowledge(s.room, 1, s.ids["p1"], NOON + 99)
    assert again is not None
    assert again[1:] == (NOON + 10, False)
    await store.acknowledge(s.room, 1, s.ids["p2"], NOON + 20)
    assert await store.acknowledgements(s.room, 1) == [(s.ids["p1"], NOON + 10),
                                                      (s.ids["p2"], NOON + 20)]
    assert await store.acknowledged_by(s.room, s.ids["p1"], 10) == [1]
    assert await store.acknowledged_by(s.room, s.ids["t1"], 10) == []
    # Nothing to acknowledge: a plain message, one's own, an unknown seq.
    assert await store.acknowledge(s.room, 2, s.ids["p1"], NOON) is None
    assert await store.acknowledge(s.room, 1, s.ids["t1"], NOON) is None
    assert await store.acknowledge(s.room, 9, s.ids["p1"], NOON) is None


async def test_read_markers_move_forward_and_give_unread_counts(store: Store) -> None:
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER, moderator=True)
    lea = s.author("p1", Profile.PUPIL)
    off = PostOptions("off", "UTC")
    for i in range(4):
        await s.post(s.room, claire, f"c{i}", NOON, off)
    await s.post(s.room, lea, "l0", NOON, off)
    assert await store.unread_counts(s.ids["p1"], [s.room]) == {s.room: 4}  # not her own
    assert await store.mark_read(s.room, s.ids["p1"], 2, NOON) == 2
    assert await store.mark_read(s.room, s.ids["p1"], 1, NOON) == 2  # never backwards
    assert await store.mark_read(s.room, s.ids["p1"], 99, NOON) == 5  # capped at the head
    assert await store.read_markers(s.room) == {s.ids["p1"]: 5}
    assert await store.unread_counts(s.ids["p1"], [s.room]) == {s.room: 0}
    assert await store.unread_counts(s.ids["p2"], [s.room]) == {s.room: 5}
    assert await store.unread_counts(s.ids["p2"], []) == {}


async def test_school_settings_and_the_school_wide_parents_room(store: Store) -> None:
    s = await school(store)
    settings = await store.school_settings(s.id)
    assert (settings.quiet_hours, settings.parents_may_message) == ("07:00-20:00", False)
    before = (await store.directory_versions())[s.id]
    changed = await store.set_school_settings(s.id, s.ids["s1"], NOON, quiet_hours="off",
                                              parents_may_message=True)
    assert (changed.quiet_hours, changed.parents_may_message) == ("off", True)
    assert (await store.directory_versions())[s.id] == before + 1
    view = await store.load_school(s.id)
    assert view is not None
    assert view.school.parents_may_message
    parents_group = f"{s.klass}/parent"
    assert (parents_group, parents_group) in view.rules.links
    audit = await store.audit_entries(s.id, AuditQuery(action=AuditAction.SCHOOL_SETTINGS))
    assert audit[0].details == {"quiet_hours": "off", "parents_may_message": True}

    room, created = await store.ensure_parents_room(s.id, None, NOON)
    again, created_again = await store.ensure_parents_room(s.id, None, NOON)
    per_class, _ = await store.ensure_parents_room(s.id, s.klass, NOON)
    assert created
    assert not created_again
    assert again == room
    assert room.kind is RoomKind.PARENTS
    assert room.class_id is None
    assert per_class.id != room.id
    assert per_class.class_id == s.klass


async def test_a_paused_account_cannot_post_until_resumed(store: Store) -> None:
    s = await school(store)
    lea = s.author("p1", Profile.PUPIL)
    off = PostOptions("off", "UTC")
    assert (await s.post(s.room, lea, "avant", NOON, off)).message is not None
    assert await store.pause_account(s.ids["p1"], s.id, "burst", {"rooms": 9}, NOON)
    assert not await store.pause_account(s.ids["p1"], s.id, "burst", {"rooms": 10}, NOON)
    refused = await s.post(s.room, lea, "pendant", NOON + 1, off)
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.SUSPENDED
    assert "paused" in refused.refusal.message
    # Others post as before; a retry of an accepted txn still gets its result.
    hugo = s.author("p2", Profile.PUPIL)
    assert (await s.post(s.room, hugo, "hugo", NOON, off)).message is not None
    [paused] = await store.paused_accounts(s.id)
    assert (paused.person_id, paused.reason, paused.details) == (s.ids["p1"], "burst",
                                                                 {"rooms": 9})
    assert await store.resume_account(s.ids["p1"], s.id, s.ids["s1"], "vérifié", NOON + 2)
    assert not await store.resume_account(s.ids["p1"], s.id, s.ids["s1"], None, NOON + 3)
    assert await store.paused_accounts(s.id) == []
    assert (await s.post(s.room, lea, "après", NOON + 4, off)).message is not None
    actions = [e.action for e in await store.audit_entries(s.id, AuditQuery())]
    assert AuditAction.ACCOUNT_PAUSE in actions
    assert AuditAction.ACCOUNT_RESUME in actions


async def test_a_closed_conversation_takes_no_post_and_withdraws_what_waited(
    store: Store,
) -> None:
    # docs/conversations.md, "When a relation ends": the store's side of it.
    s = await school(store)
    claire = s.author("t1", Profile.TEACHER)
    camille = s.author("r1", Profile.PARENT)
    lea = s.ids["p1"]
    people = frozenset({s.ids["t1"], s.ids["r1"], lea})
    key_pair = frozenset({s.ids["t1"], s.ids["r1"]})
    group, _ = await store.open_conversation(s.id, people, "g", None, EVENING,
                                             opener_id=s.ids["t1"])
    pair, _ = await store.open_conversation(s.id, key_pair, "p", "|".join(sorted(key_pair)),
                                            EVENING, opener_id=s.ids["t1"])
    assert group.opener_id == s.ids["t1"]
    assert not group.closed
    assert (await s.post(group.id, claire, "soir", EVENING)).scheduled is not None
    assert (await s.post(group.id, camille, "avant", NOON)).message is not None

    # Closing: the parent loses it, the others keep it read-only.
    readers = people - {s.ids["r1"]}
    assert await store.close_conversation(group.id, "relation_ended", readers, EVENING + 1)
    assert not await store.close_conversation(group.id, "relation_ended", readers, EVENING + 2)
    stored = await store.get_room(group.id)
    assert stored is not None
    assert stored.closed
    assert stored.members == readers
    assert group.id not in [r.id for r in await store.conversations_of(s.ids["r1"])]
    assert group.id in [r.id for r in await store.conversations_of(lea)]
    [in_school] = [r for r in await store.conversations_in_school(s.id) if r.id == group.id]
    assert in_school.closed
    assert in_school.members == readers
    # Nobody posts any more, whatever a node's cache says; nothing waits.
    refused = await s.post(group.id, claire, "encore", EVENING + 3)
    assert refused.refusal is not None
    assert refused.refusal.code is ErrorCode.CLOSED
    assert await store.scheduled_messages(group.id, None) == []
    assert await release_due(store, MORNING, 10, lambda: f"m-{next(_ids)}") == []
    assert [m.txn for m in await store.messages_after(group.id, 0, 10)] == ["avant"]
    # Later, someone else loses it too: the same call takes it away.
    assert await store.close_conversation(group.id, "relation_ended", frozenset({lea}),
                                          EVENING + 4)
    stored = await store.get_room(group.id)
    assert stored is not None
    assert stored.members == frozenset({lea})

    # A closed one-to-one frees its pair: the two may open a new one.
    assert await store.close_conversation(pair.id, "relation_ended", key_pair, EVENING + 5)
    again, created = await store.open_conversation(
        s.id, key_pair, "p", "|".join(sorted(key_pair)), EVENING + 6, opener_id=s.ids["r1"])
    assert created
    assert again.id != pair.id
