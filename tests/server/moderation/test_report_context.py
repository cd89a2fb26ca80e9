"""A report shows what its reporter could see when reporting, never what was
posted after (docs/moderation.md, "Reports"); reading the context of a report
from a private conversation is written to the access journal.

A child harassed in a private conversation must be heard by the school's
admins — but a report is not a window onto the conversation's future.
Real services on both stores (tests/server/privacy/school.py: Léa, Hugo,
Chloé pupils of 5A; Claire their teacher; Anne staff and admin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preau.server.moderation.service import VIEW_REPORT_CONTEXT
from tests.server.privacy.school import School, small_school


async def queue(school: School, reader: str) -> dict[str, dict[str, Any]]:
    found = await school.services.moderation.reports(await school.member(reader),
                                                     school.school_id)
    return {r["id"]: r for r in found}


def seqs(report: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in report["context"]]


async def context_reads(school: School) -> list[dict[str, Any]]:
    journal = await school.services.privacy.journal(
        await school.member("Anne"), school.school_id, None, 200)
    return [e for e in journal["entries"] if e["view"] == VIEW_REPORT_CONTEXT]


async def test_a_conversation_report_shows_only_what_the_reporter_had_seen(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        moderation = school.services.moderation
        group, _ = await school.services.chat.open_conversation(
            await school.member("Léa"), [school.ids["Hugo"], school.ids["Chloé"]])
        for n in range(1, 6):
            await school.say("Hugo", group.id, f"message {n}")
        # Léa reports message 4 while the conversation holds 5 messages.
        made = await moderation.report(await school.member("Léa"), group.id, 4, "harcèlement")
        lea_report = made["report"]["id"]
        await school.say("Hugo", group.id, "message 6, après le signalement")
        await school.say("Léa", group.id, "message 7, après le signalement")
        # Chloé reports the same message later: she had seen 6 and 7.
        later = await moderation.report(await school.member("Chloé"), group.id, 4, None)
        chloe_report = later["report"]["id"]
        await school.say("Hugo", group.id, "message 8, après les deux")

        reports = await queue(school, "Anne")
        assert reports[lea_report]["message"]["body"] == "message 4"
        assert seqs(reports[lea_report]) == [1, 2, 3, 4, 5]
        assert seqs(reports[chloe_report]) == [1, 2, 3, 4, 5, 6, 7]
        shown = str(reports[lea_report])
        assert "après" not in shown
        assert "après les deux" not in str(reports[chloe_report])

        # Nobody moderates a conversation: the teacher does not see it.
        assert lea_report not in await queue(school, "Claire")
        # Every read of such a context is journaled, one entry per report shown.
        reads = await context_reads(school)
        assert sorted(e["subject"].split("&")[0] for e in reads) == sorted(
            [f"report={lea_report}", f"report={chloe_report}"])
        assert {e["actor"]["name"] for e in reads} == {"Anne Petit"}
        assert all(f"room={group.id}" in e["subject"] for e in reads)
        await queue(school, "Anne")
        assert len(await context_reads(school)) == 4


async def test_a_class_room_report_stops_at_the_report_too(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        room = await school.class_room()
        await school.say("Chloé", room, "avant")
        bad = await school.say("Hugo", room, "tu es nul")
        made = await school.services.moderation.report(
            await school.member("Léa"), room, bad, None)
        await school.say("Hugo", room, "posté après le signalement")
        for reader in ("Claire", "Anne"):  # the class's teacher, the admin
            report = (await queue(school, reader))[made["report"]["id"]]
            assert [e["body"] for e in report["context"]] == ["avant", "tu es nul"]
        # Class rooms have moderators: their reports are not journaled one by one.
        assert await context_reads(school) == []
