"""Reactions on messages across two nodes in one process (one SQLite file, one
in-memory bus; tests/server/twonodes.py): idempotent per person, counted
exactly on every node, gone with their message, refused where the room's rules
say so, out of reach answering as a missing message, and after a directory
change.

Demo school: 6eA has pupils Léa Martin, Hugo Bernard, Chloé Dubois…, teachers
Claire Lefèvre and Julien Garnier; 6eB has Inès Petit and teacher Sophie
Faure; Camille Martin is Léa's mother; Anne Roux is staff (admin).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Member
from preau.server.errors import PreauError
from preau.server.live.connection import Connection
from preau.server.moderation.rules import PolicyChange, RoomMode
from preau.server.services import Services
from tests.server.twonodes import Nodes


class Client:
    """A person's socket on a node, subscribed as the gateway does it."""

    def __init__(self, nodes: Nodes, node: Services, name: str) -> None:
        self.node = node
        self.member: Member = nodes.member(node, name)
        self.conn: Connection
        self.conn, self.recorder = nodes.connect(node, self.member)

    async def subscribe(self, room: str, since: int | None = None) -> None:
        await self.node.chat.open_room(self.member, room)
        await self.node.hub.subscribe(self.conn, room, since, lambda fields: None)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [f for f in self.recorder.frames if f.get("ev") == name]

    async def wait(self, predicate: Any, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.recorder.arrived.clear()
                await self.recorder.arrived.wait()

    def latest(self, seq: int) -> dict[str, Any] | None:
        """The reactions of message ``seq`` as a client keeps them: the highest rev."""
        found = [f for f in self.events("chat.reactions") if f["seq"] == seq]
        return max(found, key=lambda f: f["rev"], default=None)


def reloaded(node: Services) -> asyncio.Event:
    """Set once ``node`` has reloaded a school's directory (a broker notice
    from the other node applied)."""
    done = asyncio.Event()

    async def listener(school_id: str) -> None:
        done.set()

    node.directory.on_change(listener)
    return done


async def refused(call: Any, code: str) -> PreauError:
    with pytest.raises(PreauError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


async def test_idempotent_per_person_and_who_sees_who(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, hugo = nodes.member(a, "Léa Martin"), nodes.member(a, "Hugo Bernard")
    claire, chloe = nodes.member(b, "Claire Lefèvre"), nodes.member(b, "Chloé Dubois")
    sent = await a.chat.send(lea, room, "t1", "J'ai fini mon exposé !")
    assert sent.message is not None
    seq = sent.message.seq

    first = await a.reactions.react(hugo, room, seq, "bravo", True)
    assert first["reactions"] == {"rev": 1, "counts": {"bravo": 1}, "mine": ["bravo"]}
    assert not first["duplicate"]
    again = await b.reactions.react(hugo, room, seq, "bravo", True)  # other node, same person
    assert again["duplicate"]
    assert again["reactions"] == first["reactions"]
    await b.reactions.react(claire, room, seq, "bravo", True)
    await b.reactions.react(claire, room, seq, "love", True)
    off = await a.reactions.react(hugo, room, seq, "bravo", False)
    assert off["reactions"] == {"rev": 4, "counts": {"bravo": 1, "love": 1}, "mine": []}
    assert (await a.reactions.react(hugo, room, seq, "bravo", False))["duplicate"]
    await refused(a.reactions.react(hugo, room, seq, "rainbow", True), "bad_request")

    # History: the counts for everyone, each person's own.
    [entry] = await b.chat.history(chloe, room, before=None, after=None, limit=10)
    assert entry["reactions"] == {"rev": 4, "counts": {"bravo": 1, "love": 1}, "mine": []}
    [entry] = await a.chat.history(claire, room, before=None, after=None, limit=10)
    assert entry["reactions"]["mine"] == ["bravo", "love"]

    # Who reacted: the author and the room's moderators; others see counts only.
    expected = {"bravo": [{"id": claire.id, "name": "Claire Lefèvre"}],
                "love": [{"id": claire.id, "name": "Claire Lefèvre"}]}
    for who in (lea, claire, nodes.member(a, "Anne Roux"), nodes.member(a, "Julien Garnier")):
        assert (await b.reactions.reactors(who, room, seq))["reactions"] == expected
    await refused(a.reactions.reactors(hugo, room, seq), "forbidden")
    await refused(a.reactions.reactors(lea, room, 99), "not_found")


async def test_rights_matrix_out_of_reach_is_not_found(nodes: Nodes) -> None:
    a = nodes.a
    room = await nodes.room(a, "6eA")
    lea = nodes.member(a, "Léa Martin")
    sent = await a.chat.send(lea, room, "t1", "Bonjour")
    assert sent.message is not None
    seq = sent.message.seq
    # Who may read the room reacts: its pupils, its teachers, the school's staff.
    for name in ("Hugo Bernard", "Claire Lefèvre", "Julien Garnier", "Anne Roux"):
        done = await a.reactions.react(nodes.member(a, name), room, seq, "like", True)
        assert not done["duplicate"], name
    # Out of reach: a parent (class rooms are the pupils'), a pupil and a teacher
    # of another class. Each answer is exactly the one for a missing room, and a
    # missing message in a room one reads answers not_found too.
    missing = await refused(a.reactions.react(lea, "r_missing", seq, "like", True), "not_found")
    for name in ("Camille Martin", "Inès Petit", "Sophie Faure"):
        member = nodes.member(a, name)
        error = await refused(a.reactions.react(member, room, seq, "like", True), "not_found")
        assert error.to_wire() == missing.to_wire(), name
        error = await refused(a.reactions.reactors(member, room, seq), "not_found")
        assert error.to_wire() == missing.to_wire(), name
    await refused(a.reactions.react(lea, room, 999, "like", True), "not_found")
    assert (await a.store.reactors(room, seq)) is not None
    counts = (await a.store.reactions_of(room, [seq], lea.id))[seq].counts
    assert counts == {"like": 4}


async def test_counted_exactly_across_two_nodes(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    watcher_a, watcher_b = Client(nodes, a, "Julien Garnier"), Client(nodes, b, "Chloé Dubois")
    for watcher in (watcher_a, watcher_b):
        await watcher.subscribe(room)
    lea = nodes.member(a, "Léa Martin")
    sent = await a.chat.send(lea, room, "t1", "Sortie au musée vendredi")
    assert sent.message is not None
    seq = sent.message.seq
    reactors = ["Léa Martin", "Hugo Bernard", "Nathan Thomas", "Manon Robert",
                "Lucas Richard", "Claire Lefèvre", "Anne Roux"]
    names = ["like", "love", "wow"]
    # Everyone at once, alternating nodes; some add then remove.
    calls = []
    for i, person in enumerate(reactors):
        node = (a, b)[i % 2]
        member = nodes.member(node, person)
        calls += [node.reactions.react(member, room, seq, n, True) for n in names]
    await asyncio.gather(*calls)
    removals = [(a, b)[i % 2].reactions.react(nodes.member(a, p), room, seq, "wow", False)
                for i, p in enumerate(reactors[:3])]
    await asyncio.gather(*removals)
    final = {"like": 7, "love": 7, "wow": 4}
    total = len(reactors) * len(names) + 3
    for watcher in (watcher_a, watcher_b):
        await watcher.wait(lambda w=watcher: (w.latest(seq) or {}).get("rev") == total)
        latest = watcher.latest(seq)
        assert latest is not None
        assert latest["counts"] == final
        assert "mine" not in latest  # Chloé did not react: counts only, no names
        assert all("person" not in f and "who" not in f for f in watcher.events("chat.reactions"))
    stored = (await b.store.reactions_of(room, [seq], lea.id))[seq]
    assert (stored.rev, stored.counts) == (total, final)

    # The reactor's own devices learn their own reactions too.
    hugo = Client(nodes, b, "Hugo Bernard")
    await hugo.subscribe(room)
    await a.reactions.react(nodes.member(a, "Hugo Bernard"), room, seq, "sad", True)
    await hugo.wait(lambda: (hugo.latest(seq) or {}).get("rev") == total + 1)
    latest = hugo.latest(seq)
    assert latest is not None
    assert latest["mine"] == ["like", "love", "sad"]


async def test_a_resume_gets_the_changes_it_missed(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, hugo = nodes.member(a, "Léa Martin"), nodes.member(a, "Hugo Bernard")
    for txn in ("t1", "t2"):
        await a.chat.send(lea, room, txn, f"message {txn}")
    await a.reactions.react(hugo, room, 1, "like", True)  # seen before going away
    head = await a.store.room_head(room)
    # Away: a reaction on an old message, with no new message since.
    await a.reactions.react(nodes.member(a, "Claire Lefèvre"), room, 1, "love", True)
    await a.reactions.react(lea, room, 2, "laugh", True)
    back = Client(nodes, b, "Hugo Bernard")
    await back.subscribe(room, since=head)
    await back.wait(lambda: len(back.events("chat.reactions")) >= 2)
    snapshots = back.events("chat.reactions")
    assert [(f["seq"], f["rev"], f["counts"], f["mine"]) for f in snapshots] == [
        (1, 2, {"like": 1, "love": 1}, ["like"]), (2, 1, {"laugh": 1}, [])]


async def test_gone_with_their_message(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, hugo = nodes.member(a, "Léa Martin"), nodes.member(a, "Hugo Bernard")
    claire = nodes.member(a, "Claire Lefèvre")
    for txn in ("t1", "t2"):
        await a.chat.send(lea, room, txn, f"message {txn}")
    for seq in (1, 2):
        await a.reactions.react(hugo, room, seq, "laugh", True)
    await a.moderation.redact(claire, room, 1, "hors sujet")  # deleted by a moderator
    await b.moderation.redact(lea, room, 2, None)  # recalled by its author
    history = await b.chat.history(hugo, room, before=None, after=None, limit=10)
    assert [h.get("reactions") for h in history] == [None, None, None, None]
    for seq in (1, 2):
        await refused(b.reactions.react(hugo, room, seq, "like", True), "not_found")
        await refused(b.reactions.reactors(lea, room, seq), "not_found")
    assert await a.store.reactors(room, 1) is None


async def test_refused_where_the_room_says_so(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, hugo = nodes.member(a, "Léa Martin"), nodes.member(b, "Hugo Bernard")
    claire, anne = nodes.member(a, "Claire Lefèvre"), nodes.member(a, "Anne Roux")
    await a.chat.send(claire, room, "t1", "Pas de cours demain")
    # A read-only room: nobody reacts, moderators neither.
    await a.moderation.set_policy(claire, room, PolicyChange(mode=RoomMode.READ_ONLY), None)
    for who in (hugo, claire):
        await refused(b.reactions.react(who, room, 1, "like", True), "forbidden")
    # An announcement room: its readers react as the school decides (on by default).
    await a.moderation.set_policy(claire, room, PolicyChange(mode=RoomMode.ANNOUNCEMENT), None)
    assert not (await b.reactions.react(hugo, room, 1, "like", True))["duplicate"]
    b_reloaded = reloaded(b)
    settings = await a.moderation.set_school_settings(
        anne, anne.school_id, quiet_hours=None, parents_may_message=None,
        reactions_in_announcements=False)
    assert settings["reactions_in_announcements"] is False
    async with asyncio.timeout(5):
        await b_reloaded.wait()  # the other node reloaded the school
    await refused(b.reactions.react(lea, room, 1, "love", True), "forbidden")
    await refused(a.reactions.react(hugo, room, 1, "like", False), "forbidden")
    assert not (await b.reactions.react(claire, room, 1, "love", True))["duplicate"]
    # An open room again: a muted pupil does not react.
    await a.moderation.set_policy(claire, room, PolicyChange(mode=RoomMode.OPEN), None)
    await a.moderation.moderate_member(claire, room, lea.id, _mute(), None, duration_s=600)
    await refused(b.reactions.react(lea, room, 1, "love", True), "muted")
    assert not (await b.reactions.react(hugo, room, 1, "wow", True))["duplicate"]


def _mute() -> Any:
    from preau.server.store import AuditAction

    return AuditAction.MEMBER_MUTE


async def test_a_pupil_moved_out_of_the_class_cannot_react(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, chloe = nodes.member(a, "Léa Martin"), nodes.member(b, "Chloé Dubois")
    await a.chat.send(lea, room, "t1", "Qui vient au CDI ?")
    await b.reactions.react(chloe, room, 1, "like", True)
    # Chloé (E003) moves to 6eB: a re-import on node a, told to node b.
    moved = "\n".join(line.replace(";6eA;", ";6eB;") if line.startswith("E003;") else line
                      for line in demo_csv().splitlines()) + "\n"
    report = await import_directory(
        a.store, parse_csv(moved), uai=DEMO_UAI, school_name=DEMO_NAME,
        timezone=DEMO_TIMEZONE, activation_ttl_s=3600, now_ms=a.clock.now_ms())
    b_reloaded = reloaded(b)
    await a.hub.directory_changed(report.school.id)
    async with asyncio.timeout(5):
        await b_reloaded.wait()
    chloe_now = await b.directory.member(chloe.id)
    assert chloe_now is not None
    missing = await refused(b.reactions.react(chloe_now, "r_missing", 1, "like", True),
                            "not_found")
    for call in (b.reactions.react(chloe_now, room, 1, "like", False),
                 b.reactions.react(chloe_now, room, 1, "love", True),
                 a.reactions.reactors(chloe_now, room, 1)):
        error = await refused(call, "not_found")
        assert error.to_wire() == missing.to_wire()


def test_the_ws_schema_names_the_same_set() -> None:
    from typing import get_args

    from preau.server.chat.reactions import REACTIONS
    from preau.server.gateway.reaction_ops import ReactionName

    assert list(get_args(ReactionName)) == list(REACTIONS)
