"""The notification outbox (preau/server/notifications/service.py): a
member's post that may notify someone commits an outbox row with the
message; the sender is answered before the fan-out runs; the fan-out is
stored with the row's deletion by the node that holds it, so a node that
stops between the post and its fan-out loses no notification, and no
notification is made twice — on SQLite and PostgreSQL.

School (tests/server/privacy/school.py): Léa, Hugo, Chloé pupils of 5A, Paul
Léa's father, Claire their teacher, Anne staff and admin. Services are left
as a server runs them (``settle=False``: a post does not wait)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from preau.server.app import build_services, close_services
from preau.server.moderation.rules import PolicyChange, Premoderation
from preau.server.notifications.service import OUTBOX_LEASE_MS
from preau.server.store.notifications import Fanout, Notification
from tests.server.privacy.school import School, settings_for, small_school


async def told(school: School, name: str, kind: str = "message") -> list[Notification]:
    found = await school.services.store.notifications_of(school.ids[name], None, 100)
    return [n for n in found if n.kind == kind]


@contextlib.asynccontextmanager
async def node(school: School, store_url: str, tmp_path: Path, name: str
               ) -> AsyncIterator[School]:
    """Another node on the same store and clock (or the same one restarted)."""
    services = await build_services(
        settings_for(store_url, tmp_path / name, node_id=name, quiet_hours_default="off"),
        clock=school.clock)
    try:
        yield School(services, school.clock, school.school_id, school.ids, school.logins)
    finally:
        await close_services(services)


async def conversation(school: School) -> str:
    room, _ = await school.services.chat.open_conversation(
        await school.member("Claire"), [school.ids["Paul"]])
    await school.services.notifications.settled()
    return room.id


async def test_the_sender_is_answered_before_the_fan_out(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path, settle=False,
                            quiet_hours_default="off") as school:
        room = await conversation(school)
        store = school.services.store
        release = asyncio.Event()
        record = store.record_fanout

        async def slow_record(*args: Any, **kwargs: Any) -> list[Notification] | None:
            await release.wait()
            return await record(*args, **kwargs)

        store.record_fanout = slow_record  # type: ignore[method-assign]
        # The fan-out cannot finish: the sender is answered all the same.
        sent = await asyncio.wait_for(school.services.chat.send(
            await school.member("Claire"), room, "t1", "Léa a oublié son cahier"), 5)
        assert sent.message is not None
        assert await told(school, "Paul") == []
        assert await store.outbox_pending() == 1
        release.set()
        await school.services.notifications.settled()
        [notice] = await told(school, "Paul")
        assert (notice.room_id, notice.seq) == (room, sent.message.seq)
        assert await store.outbox_pending() == 0
        # A class room's plain message leaves no outbox row; « @ » does.
        class_room = await school.class_room()
        await school.services.chat.send(await school.member("Claire"), class_room, "t2",
                                        "Bonne journée")
        assert await store.outbox_pending() == 0
        await school.services.chat.send(await school.member("Claire"), class_room, "t3",
                                        "@Léa Martin au tableau")
        await school.services.notifications.settled()
        assert len(await told(school, "Léa", "mention")) == 1
        assert await store.outbox_pending() == 0


async def test_a_node_stopping_after_the_post_loses_no_notification(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path, settle=False,
                            quiet_hours_default="off") as school:
        room = await conversation(school)
        claire = await school.member("Claire")
        async with node(school, store_url, tmp_path, "node-a") as a:
            # Node A commits two posts and stops before their fan-out: one
            # never started, the other claimed and cut.
            a.services.notifications.posted = lambda room, seq: None  # type: ignore[method-assign]
            first = await a.services.chat.send(claire, room, "a1", "Premier message")
            second = await a.services.chat.send(claire, room, "a2", "Deuxième message")
            assert first.message is not None
            assert second.message is not None
            [claimed] = await a.services.store.claim_outbox(
                "node-a", school.clock.now, OUTBOX_LEASE_MS, 1)
            assert claimed.seq == first.message.seq
        assert await told(school, "Paul") == []

        # Node B (or A restarted): the free row at once, the claimed one
        # when A's lease is over.
        async with node(school, store_url, tmp_path, "node-b") as b:
            assert await b.services.notifications.drain() == 1
            assert [n.seq for n in await told(school, "Paul")] == [second.message.seq]
            assert await b.services.notifications.drain() == 0
            school.clock.now += OUTBOX_LEASE_MS + 1
            assert await b.services.notifications.drain() == 1
            assert sorted(n.seq for n in await told(school, "Paul")) == [
                first.message.seq, second.message.seq]
            # A coming back to finish what it claimed: nothing more is stored.
            late = Notification("n_late", school.ids["Paul"], school.school_id, "message",
                                room, first.message.seq, claire.id, {}, school.clock.now, None)
            assert await b.services.store.record_fanout(
                Fanout(school.clock.now, [late]), (room, first.message.seq, "node-a")) is None
            assert len(await told(school, "Paul")) == 2
            assert await b.services.store.outbox_pending() == 0


async def test_two_nodes_make_each_notification_once(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path, settle=False,
                            quiet_hours_default="off") as school:
        room = await conversation(school)
        claire = await school.member("Claire")
        school.services.notifications.posted = lambda room, seq: None  # type: ignore[method-assign]
        seqs = []
        for n in range(20):
            sent = await school.services.chat.send(claire, room, f"m{n}", f"Message {n}")
            assert sent.message is not None
            seqs.append(sent.message.seq)
        # Recalled before its fan-out: nobody is told of it.
        await school.services.moderation.redact(claire, room, seqs[-1], None)
        async with node(school, store_url, tmp_path, "node-a") as a, \
                node(school, store_url, tmp_path, "node-b") as b:
            done = await asyncio.gather(*(n.services.notifications.drain()
                                          for n in (a, b, a, b)))
            assert sum(done) == 20
        assert sorted(n.seq for n in await told(school, "Paul")) == seqs[:-1]
        assert await school.services.store.outbox_pending() == 0


async def test_an_approved_held_message_notifies_once_whatever_stops(
    store_url: str, tmp_path: Path
) -> None:
    """A held message's outbox row is written with its approval: the
    moderator's node stopping before the fan-out loses nothing."""
    async with small_school(store_url, tmp_path, settle=False,
                            quiet_hours_default="off") as school:
        room = await school.class_room()
        claire = await school.member("Claire")
        await school.services.moderation.set_policy(
            claire, room, PolicyChange(premoderation=Premoderation.PUPILS), None)
        held = await school.services.chat.send(await school.member("Hugo"), room, "h1",
                                               "@Léa Martin tu viens ?")
        assert held.held is not None
        assert await told(school, "Léa", "mention") == []  # held: nobody yet
        async with node(school, store_url, tmp_path, "node-a") as a:
            a.services.notifications.drain = _nothing  # type: ignore[method-assign]
            await a.services.moderation.decide(claire, room, held.held.id, True, None)
        assert await told(school, "Léa", "mention") == []
        assert await school.services.store.outbox_pending() == 1
        async with node(school, store_url, tmp_path, "node-b") as b:
            assert await b.services.notifications.drain() == 1
            assert await b.services.notifications.drain() == 0
        assert len(await told(school, "Léa", "mention")) == 1


async def _nothing(*args: Any, **kwargs: Any) -> int:
    return 0  # a node stopping before the fan-out
