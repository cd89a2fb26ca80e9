"""Names others see — a study group's name, a document's title or version —
pass the gates of a message (preau/server/moderation/shown_text.py, issue 21)."""

from __future__ import annotations

import pytest

from preau.server.directory.model import Profile
from preau.server.documents.model import DocumentKind
from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.wordfilter import WordLists
from tests.server.twonodes import Nodes


async def _refused(call: object, code: ErrorCode) -> None:
    with pytest.raises(PreauError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code is code, caught.value


async def test_a_paused_pupil_cannot_name_a_study_group(nodes: Nodes) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    room = await nodes.room(nodes.a, "6eA")
    calls = nodes.b.calls  # the other node: the pause is in the store
    fine = await calls.create(lea, room, "Révisions", [hugo.id], None)
    assert fine.name == "Révisions"
    await nodes.a.store.pause_account(lea.id, lea.school_id, "burst", {}, 1)
    await _refused(calls.create(lea, room, "Venez voir ce lien", [hugo.id], None),
                   ErrorCode.SUSPENDED)


async def test_blocked_and_held_words_are_refused_in_names(nodes: Nodes) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    anne = nodes.member(nodes.a, "Anne Roux")
    room = await nodes.room(nodes.a, "6eA")
    await nodes.a.store.set_word_lists(
        lea.school_id, WordLists(block=("crétin",), hold=("suicide",), alert=("bagarre",)),
        anne.id, 1)
    calls = nodes.a.calls
    await _refused(calls.create(lea, room, "Hugo est un crétin", [hugo.id], None),
                   ErrorCode.FILTERED)
    await _refused(calls.create(lea, room, "suicide", [hugo.id], None), ErrorCode.FILTERED)
    assert (await calls.create(lea, room, "Après la bagarre", [hugo.id], None)).name
    # Teachers are not filtered, as in messages.
    klass = next(c for c in (await nodes.a.directory.school(lea.school_id)).classes.values()
                 if c.name == "6eA")
    doc = await nodes.a.documents.create(claire, klass.id, "Le crétin des Alpes (SVT)",
                                         DocumentKind.TEXT)
    assert doc.title == "Le crétin des Alpes (SVT)"


async def test_titles_wait_while_the_school_suspends_messaging(nodes: Nodes) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    anne = nodes.member(nodes.a, "Anne Roux")
    klass = next(c for c in (await nodes.a.directory.school(claire.school_id)).classes.values()
                 if c.name == "6eA")
    doc = await nodes.a.documents.create(claire, klass.id, "Journal", DocumentKind.TEXT)
    await nodes.a.store.set_messaging_suspension(
        claire.school_id, [Profile.TEACHER], True, anne.id, None, 1)
    await _refused(nodes.b.documents.create(claire, klass.id, "Autre", DocumentKind.TEXT),
                   ErrorCode.SUSPENDED)
    await _refused(nodes.b.documents.create_version(claire, doc.id, "v2"),
                   ErrorCode.SUSPENDED)
