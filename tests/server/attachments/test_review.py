"""Reviewing a reported message's files (issue 13): whoever may resolve a
report — the room's moderators, the school's admins, who are not in a
private conversation — reads the files of the reported message while the
report is open, each read journaled; for everybody else, for another
message, another or a settled report, a deleted or recalled message, the
file answers as one that does not exist.

School (tests/server/attachments/world.py): Léa and Hugo (5A), Inès (5B)
pupils; Paul is Léa's father, Marc is Inès's; Claire teaches 5A, Julien 5B;
Anne is staff, the school's admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.service import VIEW_REPORT_ATTACHMENT
from tests.server.attachments.test_rights import PEOPLE
from tests.server.attachments.world import World, world


async def reviews(w: World, name: str, attachment: str, report: str) -> bool:
    try:
        await w.files.readable(await w.member(name), attachment, report)
    except PreauError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        return False
    return True


async def resolvers(w: World, report: str) -> set[str]:
    """Who finds ``report`` in their reports queue (who may resolve it)."""
    found = set()
    for name in PEOPLE:
        try:
            queue = await w.services.moderation.reports(await w.member(name), w.school_id)
        except PreauError as exc:
            if exc.code is not ErrorCode.FORBIDDEN:
                raise
            continue
        if any(r["id"] == report for r in queue):
            found.add(name)
    return found


async def journal(w: World) -> list[dict[str, Any]]:
    page = await w.services.privacy.journal(await w.member("Anne"), w.school_id, None, 200)
    return [e for e in page["entries"] if e["view"] == VIEW_REPORT_ATTACHMENT]


async def test_reviewers_read_a_reported_messages_files(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        moderation = w.services.moderation
        conversation, _ = await w.services.chat.open_conversation(
            await w.member("Paul"), [w.ids["Claire"]])
        room_5a = await w.room("5A")
        cases = {}
        for label, room, sender, reporter in (
                ("conversation", conversation.id, "Paul", "Claire"),
                ("class", room_5a, "Hugo", "Léa")):
            attachment = await w.upload(sender)
            seq = await w.send(sender, room, (attachment,), "regardez")
            other = await w.upload(sender)
            await w.send(sender, room, (other,), "et ceci")
            made = await moderation.report(await w.member(reporter), room, seq, "inapproprié")
            cases[label] = (room, seq, attachment, other, made["report"]["id"])

        # Every person: the file with the report exactly where they read the
        # room already, or may resolve the report.
        for label, (room, _seq, attachment, other, report) in cases.items():
            allowed = await resolvers(w, report)
            assert allowed, label
            for name in PEOPLE:
                expected = await w.reads_room(name, room) or name in allowed
                assert await reviews(w, name, attachment, report) == expected, (label, name)
                # Without the report, or for another message of the room: the room's rights.
                assert await w.reads_file(name, attachment) == await w.reads_room(name, room)
                assert await reviews(w, name, other, report) == await w.reads_room(name, room)
        # The school's admin is outside the conversation: the report alone lets her in.
        room, seq, attachment, other, report = cases["conversation"]
        assert not await w.reads_room("Anne", room)
        assert await reviews(w, "Anne", attachment, report)
        reads = await journal(w)
        assert {e["subject"] for e in reads} == {f"report={report}&attachment={attachment}"}
        assert {e["actor"]["name"] for e in reads} == {"Anne Blanc"}
        # Another report's id, an unknown one: as if the file did not exist.
        class_report = cases["class"][4]
        assert not await reviews(w, "Anne", attachment, class_report)
        assert not await reviews(w, "Anne", attachment, "rp_nothing")
        # The download follows the same rule (no scanner here: the file is
        # pending, for its reviewer as for everyone, not unknown).
        with pytest.raises(PreauError) as pending:
            await w.files.download(await w.member("Anne"), attachment, report)
        assert pending.value.code is ErrorCode.ATTACHMENT_PENDING

        # Settled (kept): the review is over.
        await moderation.resolve_report(await w.member("Anne"), report, False, None)
        assert not await reviews(w, "Anne", attachment, report)

        # A file whose message its author recalls while the report is open:
        # gone with its text.
        attachment = await w.upload("Paul")
        seq = await w.send("Paul", room, (attachment,), "une autre")
        made = await moderation.report(await w.member("Claire"), room, seq, None)
        assert await reviews(w, "Anne", attachment, made["report"]["id"])
        await moderation.redact(await w.member("Paul"), room, seq, None)
        assert not await reviews(w, "Anne", attachment, made["report"]["id"])

        # A file of a class message deleted by its moderator: report settled, file gone.
        room, seq, attachment, _other, report = cases["class"]
        await moderation.redact(await w.member("Claire"), room, seq, "non")
        for name in PEOPLE:
            assert not await reviews(w, name, attachment, report), name
