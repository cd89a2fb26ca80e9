"""The circle of trust on attachments (preau/server/attachments/service.py),
on real services over either store: for every room a file is sent to
(class rooms, the parents' room, conversations of every profile pair) and
every person of the school, the file is readable exactly where its message
is (the room's history opens); after a moderator deletes the message, the
author is removed from the room, or a pupil changes class, both follow.

School (tests/server/attachments/world.py): Léa and Hugo (5A), Inès (5B) pupils; Paul is Léa's
father, Marc is Inès's; Claire teaches 5A, Julien 5B; Anne is staff, admin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.directory.model import Profile
from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.rules import PolicyChange, Premoderation
from preau.server.store import AuditAction
from tests.server.attachments.world import MOVED, World, world

PEOPLE = ["Léa", "Hugo", "Inès", "Paul", "Marc", "Claire", "Julien", "Anne"]


async def rooms_to_try(w: World) -> dict[str, tuple[str, str]]:
    """label → (room id, who sends there): every kind of room, every pair
    the rules let open a conversation."""
    view = await w.services.directory.school(w.school_id)
    assert view is not None
    by_name = {r.name: r.id for r in view.rooms.values()}
    class_5a = next(c.id for c in view.classes.values() if c.name == "5A")
    parents, _ = await w.services.chat.parents_room(await w.member("Claire"), class_5a)
    found = {"class 5A": (by_name["5A"], "Claire"), "class 5B": (by_name["5B"], "Julien"),
             "parents 5A": (parents.id, "Claire")}
    for opener in PEOPLE:
        for other in PEOPLE:
            if opener >= other:
                continue
            try:
                room, _ = await w.services.chat.open_conversation(
                    await w.member(opener), [w.ids[other]])
            except PreauError:
                continue  # the circle of trust does not link them
            found[f"conversation {opener}-{other}"] = (room.id, opener)
    return found


async def test_a_file_is_readable_exactly_where_its_message_is(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path) as w:
        rooms = await rooms_to_try(w)
        assert len(rooms) > 6  # class, parents' rooms and several conversations
        sent = {}
        for label, (room, sender) in rooms.items():
            attachment = await w.upload(sender)
            # Before it is sent: its author only.
            for person in PEOPLE:
                assert await w.reads_file(person, attachment) == (person == sender), (
                    label, person)
            await w.send(sender, room, (attachment,), "la fiche")
            sent[label] = (room, attachment)
        yes = no = 0
        for label, (room, attachment) in sent.items():
            for person in PEOPLE:
                expected = await w.reads_room(person, room)
                assert await w.reads_file(person, attachment) == expected, (label, person)
                yes, no = yes + expected, no + (not expected)
        assert yes > 0
        assert no > 0

        # A moderator deletes the message: the file is nobody's at once.
        room, attachment = sent["class 5A"]
        seq = (await w.files.readable(await w.member("Claire"), attachment)).seq
        assert seq is not None
        await w.services.moderation.redact(await w.member("Claire"), room, seq, "erreur")
        for person in PEOPLE:
            assert not await w.reads_file(person, attachment), person

        # The author of a file is removed from the room: out of their reach.
        hugo_file = await w.upload("Hugo")
        await w.send("Hugo", room, (hugo_file,), "mon devoir")
        assert await w.reads_file("Léa", hugo_file)
        await w.services.moderation.moderate_member(
            await w.member("Claire"), room, w.ids["Hugo"], AuditAction.MEMBER_REMOVE, "test")
        assert not await w.reads_file("Hugo", hugo_file)
        assert await w.reads_file("Léa", hugo_file)

        # Léa changes class: 5A's files leave her reach, 5B's come in.
        julien_file = await w.upload("Julien")
        await w.send("Julien", sent["class 5B"][0], (julien_file,))
        assert await w.reads_file("Léa", hugo_file)
        assert not await w.reads_file("Léa", julien_file)
        await w.reimport(MOVED)
        assert not await w.reads_file("Léa", hugo_file)
        assert await w.reads_file("Léa", julien_file)
        for label, (room, attachment) in sent.items():
            if label == "class 5A":
                continue
            for person in PEOPLE:
                assert await w.reads_file(person, attachment) == await w.reads_room(
                    person, room), (label, person, "after the move")


async def test_held_files_wait_for_the_moderator(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        view = await w.services.directory.school(w.school_id)
        assert view is not None
        room = next(r.id for r in view.rooms.values() if r.name == "5A")
        await w.services.moderation.set_policy(
            await w.member("Claire"), room, PolicyChange(premoderation=Premoderation.PUPILS),
            None)
        attachment = await w.upload("Léa")
        result = await w.services.chat.send(await w.member("Léa"), room, "t-held", "",
                                            attachments=(attachment,))
        assert result.held is not None
        # Its author and the moderators see it; the class does not, yet.
        assert await w.reads_file("Léa", attachment)
        assert await w.reads_file("Claire", attachment)
        assert not await w.reads_file("Hugo", attachment)
        [held] = await w.services.moderation.held(await w.member("Claire"), room)
        assert [a["id"] for a in held["attachments"]] == [attachment]
        await w.services.moderation.decide(await w.member("Claire"), room, result.held.id,
                                           True, None)
        assert await w.reads_file("Hugo", attachment)
        [entry] = await w.services.chat.history(await w.member("Hugo"), room, before=None,
                                                after=None, limit=5)
        assert [a["id"] for a in entry["attachments"]] == [attachment]
        # Rejected: nobody.
        other = await w.upload("Léa")
        again = await w.services.chat.send(await w.member("Léa"), room, "t-held-2", "",
                                           attachments=(other,))
        assert again.held is not None
        await w.services.moderation.decide(await w.member("Claire"), room, again.held.id,
                                           False, "non")
        for person in ("Léa", "Claire", "Hugo"):
            assert not await w.reads_file(person, other), person


async def test_uploads_stop_with_the_kill_switch_and_a_pause(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path) as w:
        anne = await w.member("Anne")
        await w.services.moderation.set_messaging(anne, w.school_id, [Profile.PUPIL], True,
                                                  "test")
        with pytest.raises(PreauError) as stopped:
            await w.upload("Léa")
        assert stopped.value.code is ErrorCode.SUSPENDED
        assert await w.upload("Claire")  # teachers still may
        await w.services.moderation.set_messaging(anne, w.school_id, [Profile.PUPIL], False,
                                                  None)
        await w.services.store.pause_account(w.ids["Hugo"], w.school_id, "burst", {},
                                             w.clock.now_ms())
        with pytest.raises(PreauError) as paused:
            await w.upload("Hugo")
        assert paused.value.code is ErrorCode.SUSPENDED
        assert await w.upload("Léa")
