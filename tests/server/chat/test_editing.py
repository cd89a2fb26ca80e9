"""Editing one's own message (issue 20) across two nodes in one process (one
SQLite file, one in-memory bus; tests/server/twonodes.py): its author only,
within the recall window, as a post would be allowed now; everyone sees the
latest text on every node, a resume repaints what it missed, the earlier
text reaches the audit log only, and out of reach answers as a missing room
before and after a directory change.

Demo school: 6eA has pupils Léa Martin, Hugo Bernard, Chloé Dubois…, teachers
Claire Lefèvre and Julien Garnier; 6eB has Inès Petit and teacher Sophie
Faure; Camille Martin is Léa's mother; Anne Roux is staff (admin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Profile
from preau.server.errors import PreauError
from preau.server.moderation.rules import PolicyChange, Premoderation, RoomMode
from preau.server.moderation.wordfilter import WordLists
from preau.server.store import AuditAction, AuditQuery
from tests.server.chat.test_reactions import Client, reloaded
from tests.server.twonodes import Nodes, two_nodes

START = 1_767_600_000_000  # a Monday morning in January 2026


class MovableClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
async def timed(tmp_path: Path, clock: MovableClock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:
        yield pair


async def refused(call: Any, code: str) -> PreauError:
    with pytest.raises(PreauError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


async def bodies(nodes: Nodes, name: str, room: str) -> list[Any]:
    reader = nodes.member(nodes.b, name)
    history = await nodes.b.chat.history(reader, room, before=None, after=None, limit=50)
    return [(h["seq"], h.get("body"), h.get("edited"), h.get("edit_rev")) for h in history]


async def test_the_author_edits_and_every_node_shows_the_latest(
    timed: Nodes, clock: MovableClock
) -> None:
    a, b = timed.a, timed.b
    room = await timed.room(a, "6eA")
    lea = timed.member(a, "Léa Martin")
    hugo = Client(timed, a, "Hugo Bernard")  # watching live on the other node
    await hugo.subscribe(room)
    sent = await a.chat.send(lea, room, "t1", "Le contrôle est mardi")
    assert sent.message is not None
    seq = sent.message.seq

    clock.now += 60_000
    first = await b.edits.edit(lea, room, seq, "Le contrôle est jeudi")
    assert first == {"room": room, "seq": seq, "body": "Le contrôle est jeudi",
                     "edited": START + 60_000, "rev": 1, "duplicate": False}
    again = await a.edits.edit(lea, room, seq, "Le contrôle est jeudi")  # same text
    assert again["duplicate"]
    assert again["rev"] == 1
    clock.now += 1_000
    second = await a.edits.edit(lea, room, seq, "Le contrôle est jeudi 14h")
    assert second["rev"] == 2
    assert not second["duplicate"]

    await hugo.wait(lambda: any(f["rev"] == 2 for f in hugo.events("chat.edited")))
    latest = max(hugo.events("chat.edited"), key=lambda f: f["rev"])
    assert latest["body"] == "Le contrôle est jeudi 14h"
    # History on either node: the latest text, marked edited; the seq is kept.
    assert await bodies(timed, "Chloé Dubois", room) == [
        (seq, "Le contrôle est jeudi 14h", START + 61_000, 2)]
    assert await a.store.room_head(room) == seq  # an edit adds no timeline entry

    # The audit log: both edits, each with the text it replaced.
    anne = timed.member(a, "Anne Roux")
    log = await a.moderation.audit(anne, anne.school_id,
                                   AuditQuery(action=AuditAction.MESSAGE_EDIT))
    assert [(e["action"], e["content"], e["details"]) for e in log["entries"]] == [
        ("message.edit", "Le contrôle est jeudi", {"rev": 2}),
        ("message.edit", "Le contrôle est mardi", {"rev": 1}),
    ]
    # The earlier texts never come back through search.
    assert await b.chat.search(lea, room, "mardi", 50) == []
    assert len(await b.chat.search(lea, room, "14h", 50)) == 1


async def test_only_its_author_and_only_within_the_window(
    timed: Nodes, clock: MovableClock
) -> None:
    a, b = timed.a, timed.b
    room = await timed.room(a, "6eA")
    lea, hugo = timed.member(a, "Léa Martin"), timed.member(a, "Hugo Bernard")
    claire = timed.member(a, "Claire Lefèvre")
    await a.chat.send(lea, room, "t1", "Bonjour")
    await a.chat.send(claire, room, "t2", "Bonjour à tous")
    # Nobody rewrites someone else's words, a moderator neither.
    for who in (hugo, claire, timed.member(a, "Anne Roux")):
        await refused(b.edits.edit(who, room, 1, "Au revoir"), "forbidden")
    await refused(b.edits.edit(lea, room, 99, "Au revoir"), "not_found")
    await refused(b.edits.edit(lea, room, 1, "   "), "bad_request")
    await refused(b.edits.edit(lea, room, 1, "a" * 5000), "too_large")
    await refused(b.edits.edit(lea, room, 1, "bip\x07"), "bad_request")
    # The window is the room's recall window (an hour by default).
    clock.now += 3_600_000 + 1
    error = await refused(b.edits.edit(lea, room, 1, "Bonsoir"), "forbidden")
    assert "too late" in str(error)
    await refused(a.edits.edit(claire, room, 2, "Bonsoir"), "forbidden")  # teachers too
    # A recalled message, and the redaction entry itself, are no message to edit.
    clock.now = START + 10
    await a.chat.send(lea, room, "t3", "Oups")
    await a.moderation.redact(lea, room, 3, None)
    for seq in (3, 4):
        await refused(b.edits.edit(lea, room, seq, "Rien"), "not_found")
    assert [h[1] for h in await bodies(timed, "Hugo Bernard", room)] == [
        "Bonjour", "Bonjour à tous", None, None]


async def test_out_of_reach_answers_as_a_missing_room(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    claire = nodes.member(a, "Claire Lefèvre")
    await a.chat.send(claire, room, "t1", "Sortie jeudi")
    missing = await refused(b.edits.edit(claire, "r_missing", 1, "x"), "not_found")
    # A parent (class rooms are the pupils'), a pupil and a teacher of another class.
    for name in ("Camille Martin", "Inès Petit", "Sophie Faure"):
        member = nodes.member(b, name)
        for seq in (1, 99):
            error = await refused(b.edits.edit(member, room, seq, "x"), "not_found")
            assert error.to_wire() == missing.to_wire(), name


async def test_refused_as_a_post_would_be_and_nothing_changes(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, claire = nodes.member(a, "Léa Martin"), nodes.member(a, "Claire Lefèvre")
    anne = nodes.member(a, "Anne Roux")
    await a.chat.send(lea, room, "t1", "Bonjour")
    # Muted: as a post.
    await a.moderation.moderate_member(claire, room, lea.id, AuditAction.MEMBER_MUTE, None,
                                       duration_s=600)
    error = await refused(b.edits.edit(lea, room, 1, "Salut"), "muted")
    assert error.until is not None
    await a.moderation.moderate_member(claire, room, lea.id, AuditAction.MEMBER_UNMUTE, None)
    # A read-only room, then an announcement room (pupils are readers there).
    for mode in (RoomMode.READ_ONLY, RoomMode.ANNOUNCEMENT):
        await a.moderation.set_policy(claire, room, PolicyChange(mode=mode), None)
        await refused(b.edits.edit(lea, room, 1, "Salut"), "forbidden")
    await a.moderation.set_policy(claire, room, PolicyChange(mode=RoomMode.OPEN), None)
    # Pre-moderation: an edit would show text nobody reviewed.
    await a.moderation.set_policy(
        claire, room, PolicyChange(premoderation=Premoderation.PUPILS), None)
    error = await refused(b.edits.edit(lea, room, 1, "Salut"), "forbidden")
    assert "reviewed" in str(error)
    await a.moderation.set_policy(
        claire, room, PolicyChange(premoderation=Premoderation.OFF), None)
    # The word filter: a blocked word refuses it; a word that holds a post refuses it too.
    await a.store.set_word_lists(anne.school_id, WordLists(block=("crétin",), hold=("frapper",)),
                                 anne.id, a.clock.now_ms())
    await refused(b.edits.edit(lea, room, 1, "Hugo est un crétin"), "filtered")
    await refused(b.edits.edit(lea, room, 1, "je vais le frapper"), "forbidden")
    # The kill switch for pupils.
    await a.moderation.set_messaging(anne, anne.school_id, [Profile.PUPIL], True, None)
    await refused(b.edits.edit(lea, room, 1, "Salut"), "suspended")
    assert await bodies(nodes, "Hugo Bernard", room) == [(1, "Bonjour", None, None)]


async def test_a_resume_gets_the_edits_it_missed(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea = nodes.member(a, "Léa Martin")
    for txn in ("t1", "t2"):
        await a.chat.send(lea, room, txn, f"message {txn}")
    await a.edits.edit(lea, room, 1, "message t1, corrigé")  # seen before going away
    head = await a.store.room_head(room)
    await a.edits.edit(lea, room, 1, "message t1, corrigé deux fois")  # while away
    await a.edits.edit(lea, room, 2, "message t2, corrigé")
    back = Client(nodes, b, "Hugo Bernard")
    await back.subscribe(room, since=head)
    await back.wait(lambda: len(back.events("chat.edited")) >= 2)
    assert [(f["seq"], f["rev"], f["body"]) for f in back.events("chat.edited")] == [
        (1, 2, "message t1, corrigé deux fois"), (2, 1, "message t2, corrigé")]


async def test_a_recalled_edited_message_keeps_no_text(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    lea, claire = nodes.member(a, "Léa Martin"), nodes.member(a, "Claire Lefèvre")
    await a.chat.send(lea, room, "t1", "Mon adresse est 3 rue des Lilas")
    await a.edits.edit(lea, room, 1, "Mon adresse : 3 rue des Lilas, Lyon")
    await b.moderation.redact(claire, room, 1, "données personnelles")
    history = await b.chat.history(nodes.member(b, "Hugo Bernard"), room, before=None,
                                   after=None, limit=10)
    assert "Lilas" not in str(history)
    assert await a.store.edits_changed(room, 0, 10) == []  # a resume repaints nothing
    assert await b.chat.search(lea, room, "Lilas", 50) == []


async def test_a_pupil_moved_out_of_the_class_cannot_edit(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    room = await nodes.room(a, "6eA")
    chloe = nodes.member(a, "Chloé Dubois")
    await a.chat.send(chloe, room, "t1", "Qui vient au CDI ?")
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
    missing = await refused(b.edits.edit(chloe_now, "r_missing", 1, "x"), "not_found")
    error = await refused(b.edits.edit(chloe_now, room, 1, "Qui vient ?"), "not_found")
    assert error.to_wire() == missing.to_wire()


async def test_in_a_private_conversation_too(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    claire, camille = nodes.member(a, "Claire Lefèvre"), nodes.member(a, "Camille Martin")
    conversation, _ = await a.chat.open_conversation(camille, [claire.id])
    await a.chat.send(camille, conversation.id, "p1", "Léa sera absente lundi")
    done = await b.edits.edit(camille, conversation.id, 1, "Léa sera absente mardi")
    assert done["rev"] == 1
    await refused(b.edits.edit(claire, conversation.id, 1, "x"), "forbidden")
    outsider = nodes.member(b, "Julien Garnier")
    await refused(b.edits.edit(outsider, conversation.id, 1, "x"), "not_found")
