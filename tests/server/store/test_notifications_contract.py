"""Store contract for the notification centre (SQLite and PostgreSQL): rows
per person, newest first with paging, read markers only on one's own rows,
withdrawal by source (a message, or the room itself)."""

from __future__ import annotations

from preau.server.store import AuditQuery, Store
from preau.server.store.notifications import NewNotification
from preau.server.store.privacy import PrivacyStore
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


def _new(room: Room, person: str, kind: str, seq: int | None, **data: object) -> NewNotification:
    return NewNotification(person, room.school, kind, room.id, seq, room.claire.id, dict(data))


async def test_stored_listed_newest_first_and_paged(room: Room, other_node: Store) -> None:
    store = room.store
    first = await store.add_notifications(
        [_new(room, room.lea.id, "message", 1, excerpt=None),
         _new(room, room.hugo.id, "message", 1)], NOW)
    assert [n.person_id for n in first] == [room.lea.id, room.hugo.id]
    assert first[0].id != first[1].id
    await store.add_notifications([_new(room, room.lea.id, "announcement", 2)], NOW + 10)
    # Another node reads what this one wrote.
    mine = await other_node.notifications_of(room.lea.id, None, 10)
    assert [(n.kind, n.seq, n.created_ms, n.read_ms) for n in mine] == [
        ("announcement", 2, NOW + 10, None), ("message", 1, NOW, None)]
    assert mine[1].data == {"excerpt": None}
    assert mine[1].actor_id == room.claire.id
    assert mine[1].school_id == room.school
    older = await store.notifications_of(room.lea.id, NOW + 10, 10)
    assert [n.seq for n in older] == [1]
    assert [n.seq for n in await store.notifications_of(room.lea.id, None, 1)] == [2]
    assert await store.notifications_of(room.anne.id, None, 10) == []
    assert await store.add_notifications([], NOW) == []


async def test_read_markers_are_ones_own(room: Room) -> None:
    store = room.store
    lea = await store.add_notifications(
        [_new(room, room.lea.id, "message", s) for s in (1, 2, 3)], NOW)
    hugo = await store.add_notifications([_new(room, room.hugo.id, "message", 1)], NOW)
    # Someone else's id changes nothing.
    assert await store.mark_notifications_read(room.lea.id, [hugo[0].id], NOW + 1) == []
    assert await store.mark_notifications_read(room.lea.id, [], NOW + 1) == []
    assert await store.mark_notifications_read(
        room.lea.id, [lea[0].id, "n_unknown"], NOW + 1) == [lea[0].id]
    # Already read: not counted again.
    assert await store.mark_notifications_read(room.lea.id, [lea[0].id], NOW + 2) == []
    unread = await store.notifications_of(room.lea.id, None, 10, unread_only=True)
    assert sorted(n.id for n in unread) == sorted([lea[1].id, lea[2].id])
    assert sorted(await store.mark_notifications_read(room.lea.id, None, NOW + 3)) == sorted(
        [lea[1].id, lea[2].id])
    assert await store.notifications_of(room.lea.id, None, 10, unread_only=True) == []
    listed = {n.id: n.read_ms for n in await store.notifications_of(room.lea.id, None, 10)}
    assert listed[lea[0].id] == NOW + 1
    assert listed[lea[1].id] == NOW + 3
    still = await store.notifications_of(room.hugo.id, None, 10, unread_only=True)
    assert [n.id for n in still] == [hugo[0].id]


async def test_withdrawn_by_source(room: Room) -> None:
    store = room.store
    await store.add_notifications(
        [_new(room, room.lea.id, "message", 1), _new(room, room.hugo.id, "message", 1),
         _new(room, room.lea.id, "message", 2), _new(room, room.lea.id, "conversation", None)],
        NOW)
    gone = await store.withdraw_notifications(room.id, 1)
    assert sorted(n.person_id for n in gone) == sorted([room.lea.id, room.hugo.id])
    assert await store.withdraw_notifications(room.id, 1) == []
    left = await store.notifications_of(room.lea.id, None, 10)
    assert sorted((n.kind, n.seq or 0) for n in left) == [("conversation", 0), ("message", 2)]
    about_room = await store.withdraw_notifications(room.id, None)
    assert [n.kind for n in about_room] == ["conversation"]
    assert [n.seq for n in await store.notifications_of(room.lea.id, None, 10)] == [2]


async def test_exported_erased_and_purged(room: Room) -> None:
    store = room.store
    privacy = PrivacyStore(store.engine)
    await store.add_notifications([_new(room, room.hugo.id, "message", 1)], NOW)
    read = await store.add_notifications([_new(room, room.hugo.id, "announcement", 2)], NOW + 1)
    await store.mark_notifications_read(room.hugo.id, [read[0].id], NOW + 2)
    # Hugo is who caused Léa's.
    await store.add_notifications([NewNotification(
        room.lea.id, room.school, "message", room.id, 3, room.hugo.id)], NOW + 3)
    exported = await privacy.export_relations(room.hugo.id)
    assert exported["notifications"] == [  # (names replace ids in the streamed export)
        {"kind": "message", "room": room.id, "room_kind": "class", "seq": 1,
         "by": room.claire.id, "data": {}, "at": NOW, "read_at": None},
        {"kind": "announcement", "room": room.id, "room_kind": "class", "seq": 2,
         "by": room.claire.id, "data": {}, "at": NOW + 1, "read_at": NOW + 2},
    ]
    person = await privacy.person(room.hugo.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", False, NOW + 4, "contributions")
    assert (await privacy.erasure_step(job, "contributions", "identity", NOW + 5))[0]
    [leas] = await store.notifications_of(room.lea.id, None, 10)
    assert leas.actor_id not in (None, room.hugo.id)  # the pseudonym
    assert (await privacy.erasure_step(job, "identity", "traces", NOW + 6))[0]
    assert await store.notifications_of(room.hugo.id, None, 10) == []
    # The purge: older than the cut, read or not.
    await store.add_notifications([_new(room, room.lea.id, "message", 4)], NOW + 100)
    assert await privacy.purge_notifications(NOW + 100) == 1
    assert [n.seq for n in await store.notifications_of(room.lea.id, None, 10)] == [4]


async def test_preferences_and_school_rules(room: Room, other_node: Store) -> None:
    store = room.store
    assert await store.notification_preferences([room.lea.id]) == {}
    assert await store.notification_preferences([]) == {}
    await store.set_notification_preferences(
        room.lea.id, {"message": "never", "announcement": "in_app"}, NOW)
    await store.set_notification_preferences(room.hugo.id, {"message": "in_app"}, NOW)
    await other_node.set_notification_preferences(
        room.lea.id, {"message": "in_app", "announcement": None}, NOW + 1)
    assert await store.notification_preferences([room.lea.id, room.hugo.id, room.anne.id]) == {
        room.lea.id: {"message": "in_app"}, room.hugo.id: {"message": "in_app"}}
    await store.set_school_notification_rules(
        room.school, {"announcement": "on", "call.started": "off"}, room.anne.id, NOW)
    await other_node.set_school_notification_rules(
        room.school, {"call.started": None}, room.anne.id, NOW + 1)
    assert await store.school_notification_rules(room.school) == {"announcement": "on"}
    entries = await store.audit_entries(room.school, AuditQuery())
    assert [e.action.value for e in entries][:2] == ["school.settings", "school.settings"]
    # Exported and erased with the person.
    privacy = PrivacyStore(store.engine)
    exported = await privacy.export_relations(room.lea.id)
    assert exported["notification_preferences"] == [
        {"kind": "message", "channel": "in_app", "at": NOW + 1}]
    person = await privacy.person(room.lea.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", False, NOW + 2, "identity")
    assert (await privacy.erasure_step(job, "identity", "traces", NOW + 3))[0]
    assert await store.notification_preferences([room.lea.id]) == {}


async def test_email_jobs_claimed_once_across_nodes(room: Room, other_node: Store) -> None:
    import asyncio

    store = room.store
    people = [room.lea.id, room.hugo.id, room.claire.id, room.anne.id]
    await store.set_emails(room.school, {p: f"{p}@example.org" for p in people}, NOW)
    stored = await store.add_notifications(
        [_new(room, p, "announcement", s) for p in people for s in range(1, 11)], NOW)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in stored], NOW)
    claims = await asyncio.gather(*(
        node.claim_email_jobs(name, NOW + 1, 60_000, 7)
        for node, name in ((store, "a"), (other_node, "b")) for _ in range(4)))
    ids = [job.id for claim in claims for job in claim]
    assert len(ids) == len(set(ids))  # never twice
    rest = await store.claim_email_jobs("c", NOW + 1, 60_000, 100)
    assert len(ids) + len(rest) == 40
    # Leased: nobody else gets them until the lease ends; then they come back.
    assert await other_node.claim_email_jobs("d", NOW + 2, 60_000, 100) == []
    again = await other_node.claim_email_jobs("d", NOW + 60_002, 60_000, 100)
    assert len(again) == 40
    job = again[0]
    assert job.attempts == 2
    # Only the holder records the outcome; a bounce marks the address.
    assert not await store.finish_email_job(job.id, "a", "sent", NOW)
    assert await store.finish_email_job(job.id, "d", "bounced", NOW)
    assert job.notification.person_id not in await store.emails_of(people)
    # A withdrawn notification takes its pending mail with it.
    await store.withdraw_notifications(room.id, 5)
    left = await store.claim_email_jobs("e", NOW + 200_000, 60_000, 100)
    assert all(j.notification.seq != 5 for j in left)
    assert await store.unsubscribe("token-unknown", NOW) is None
    n = left[0].notification
    assert await store.unsubscribe(f"token-{n.id}", NOW) == (n.person_id, "announcement")
    assert (await store.notification_preferences([n.person_id]))[n.person_id] == {
        "announcement": "in_app"}


async def test_the_per_minute_limit_holds_across_nodes(room: Room, other_node: Store) -> None:
    import asyncio

    store = room.store
    people = [room.lea.id, room.hugo.id, room.claire.id, room.anne.id]
    await store.set_emails(room.school, {p: f"{p}@example.org" for p in people}, NOW)
    stored = await store.add_notifications(
        [_new(room, p, "announcement", s) for p in people for s in range(1, 6)], NOW)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in stored], NOW)
    claims = await asyncio.gather(*(
        node.claim_email_jobs(name, NOW + 1, 60_000, 5, per_minute=7)
        for node, name in ((store, "a"), (other_node, "b")) for _ in range(3)))
    assert sum(len(c) for c in claims) == 7


async def test_erased_with_her_contributions_her_messages_notify_nobody(room: Room) -> None:
    store = room.store
    privacy = PrivacyStore(store.engine)
    await store.add_notifications([
        NewNotification(room.lea.id, room.school, "message", room.id, 3, room.hugo.id),
        NewNotification(room.lea.id, room.school, "conversation", room.id, None, room.hugo.id),
        NewNotification(room.anne.id, room.school, "message", room.id, 4, room.claire.id),
    ], NOW)
    person = await privacy.person(room.hugo.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", True, NOW + 1, "contributions")
    assert (await privacy.erasure_step(job, "contributions", "identity", NOW + 2))[0]
    [left] = await store.notifications_of(room.lea.id, None, 10)
    assert left.kind == "conversation"
    assert left.actor_id not in (None, room.hugo.id)  # the pseudonym
    assert len(await store.notifications_of(room.anne.id, None, 10)) == 1


async def test_same_millisecond_notifications_page_stably(room: Room, other_node: Store) -> None:
    """Ids sort as the notifications were made; a page's cursor (time and id)
    neither skips nor repeats those made in the same millisecond."""
    store = room.store
    made = await store.add_notifications(
        [_new(room, room.lea.id, "message", s) for s in (1, 2, 3)], NOW)
    made += await other_node.add_notifications([_new(room, room.lea.id, "message", 4)], NOW)
    made += await store.add_notifications([_new(room, room.lea.id, "message", 5)], NOW)
    assert [n.id for n in made] == sorted(n.id for n in made)  # this process: in order
    seen: list[int | None] = []
    before_ms: int | None = None
    before_id: str | None = None
    for _ in range(6):
        page = await store.notifications_of(room.lea.id, before_ms, 2, before_id=before_id)
        if not page:
            break
        seen += [n.seq for n in page]
        before_ms, before_id = page[-1].created_ms, page[-1].id
    assert seen == [5, 4, 3, 2, 1]


def _paris_ms(*when: int) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return int(datetime(*when, tzinfo=ZoneInfo("Europe/Paris")).timestamp() * 1000)  # type: ignore[misc]


async def test_a_mail_deferred_by_the_rate_waits_for_the_delivery_window(
    room: Room, other_node: Store
) -> None:
    """NOW is 23:13 in Paris: a mail over the school's minute is due again
    when the window opens (07:00), not a minute later; an urgent message's
    mail, a minute later (it goes through quiet hours)."""
    store = room.store
    await store.set_school_settings(room.school, None, NOW, quiet_hours="07:00-20:00")
    people = [room.lea.id, room.hugo.id, room.anne.id]
    await store.set_emails(room.school, {p: f"{p}@example.org" for p in people}, NOW)
    first, plain, urgent = [await store.add_notifications(
        [_new(room, p, "announcement", 1)], NOW) for p in people]
    await store.add_email_jobs([(n, f"token-{n.id}") for n in first], NOW, due_ms=NOW - 10)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in plain], NOW)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in urgent], NOW, urgent=True)
    [sent] = await store.claim_email_jobs("a", NOW + 1, 60_000, 10, per_minute=1)
    assert sent.notification.person_id == room.lea.id
    assert not sent.urgent
    assert await store.finish_email_job(sent.id, "a", "sent", NOW + 1)
    [again] = await other_node.claim_email_jobs("b", NOW + 60_001, 60_000, 10, per_minute=1)
    assert (again.notification.person_id, again.urgent) == (room.anne.id, True)
    assert await other_node.finish_email_job(again.id, "b", "sent", NOW + 60_001)
    opening = _paris_ms(2023, 11, 15, 7, 0)
    assert await store.claim_email_jobs("c", opening - 1, 60_000, 10) == []
    [held] = await other_node.claim_email_jobs("d", opening, 60_000, 10)
    assert held.notification.person_id == room.hugo.id
    assert held.attempts == 1  # a deferral is not an attempt


async def test_a_digests_link_stops_the_kinds_in_that_digest(
    room: Room, other_node: Store
) -> None:
    store = room.store
    lea = room.lea.id
    await store.set_emails(room.school, {lea: "lea@example.org"}, NOW)
    await store.set_notification_preferences(lea, {
        "message": "daily", "announcement": "daily", "mention": "daily",
        "call.started": "weekly"}, NOW)
    mailed = await store.add_notifications(
        [_new(room, lea, "message", 1), _new(room, lea, "announcement", 2)], NOW)
    tomorrow = await store.add_notifications([_new(room, lea, "mention", 3)], NOW)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in mailed], NOW, digest="daily",
                               due_ms=NOW)
    await store.add_email_jobs([(n, f"token-{n.id}") for n in tomorrow], NOW, digest="daily",
                               due_ms=NOW + 86_400_000)
    jobs = await store.claim_email_jobs("a", NOW + 1, 60_000, 10)
    assert sorted(j.notification.kind for j in jobs) == ["announcement", "message"]
    for job in jobs:  # one mail: its jobs finished at its time
        assert await store.finish_email_job(job.id, "a", "sent", NOW + 2)
    token = await store.unsubscribe_token(jobs[0].id)
    assert token is not None
    # What the link stops, read before the click: nothing changes.
    assert await other_node.unsubscribe_subject(token) == "daily"
    assert await store.unsubscribe_subject("token-unknown") is None
    assert await store.unsubscribe_subject(f"token-{tomorrow[0].id}") == "daily"
    assert (await store.notification_preferences([lea]))[lea]["message"] == "daily"
    assert await other_node.unsubscribe(token, NOW + 3) == (lea, "daily")
    assert (await store.notification_preferences([lea]))[lea] == {
        "message": "in_app", "announcement": "in_app", "mention": "daily",
        "call.started": "weekly"}


async def test_a_single_mails_link_names_its_kind(room: Room) -> None:
    store = room.store
    [n] = await store.add_notifications([_new(room, room.hugo.id, "mention", 1)], NOW)
    await store.add_email_jobs([(n, f"token-{n.id}")], NOW)
    assert await store.unsubscribe_subject(f"token-{n.id}") == "mention"
    assert await store.notification_preferences([room.hugo.id]) == {}


async def test_a_confirmation_link_is_pending_until_used_or_expired(
    room: Room, other_node: Store
) -> None:
    store = room.store
    await store.request_email_change(room.anne.id, room.school, "anne@example.org", "hash-1",
                                     NOW, NOW + 1_000)
    assert await other_node.email_change_pending("hash-1", NOW + 999)
    assert not await store.email_change_pending("hash-1", NOW + 1_000)  # expired
    assert not await store.email_change_pending("hash-unknown", NOW)
    assert await store.confirm_email_change("hash-1", NOW + 1) == (room.anne.id,
                                                                   "anne@example.org")
    assert not await other_node.email_change_pending("hash-1", NOW + 2)  # used
