"""An export holds nobody else's id or login, anywhere in it: other people
appear by display name only (docs/data-protection.md, "the export").

Two well-connected people are exported — Anne, staff and the school's admin,
who reads every moderation view, exports a pupil's data and filters the
audit log by person; Léa, a pupil in conversations, reports, receipts,
acknowledgements, held messages and moderation — and every string of their
export (keys and values, at any depth) is searched for every other person's
id and login.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from preau.server.moderation.rules import PolicyChange, Premoderation
from preau.server.store import AuditAction, AuditQuery
from tests.server.privacy.school import School, export_json, populate, small_school


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value: keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def identifiers_of_others(school: School, me: str) -> dict[str, str]:
    """Each other person's id and login → whose it is."""
    out: dict[str, str] = {}
    for name, person_id in school.ids.items():
        if name != me:
            out[person_id] = f"{name}'s id"
            out[school.logins[name]] = f"{name}'s login"
    return out


def leaks(export: dict[str, Any], school: School, me: str) -> list[tuple[str, str]]:
    others = identifiers_of_others(school, me)
    return [(whose, text) for text in strings(export)
            for ident, whose in others.items() if ident in text]


async def connect_everyone(school: School) -> None:
    """Anne and Léa touch everyone else in every way the export records."""
    services = school.services
    room = await school.class_room()
    ids = school.ids
    anne, claire, lea = [await school.member(n) for n in ("Anne", "Claire", "Léa")]
    moderation, chat = services.moderation, services.chat

    # Anne: a message Claire deletes (moderation concerning her), conversations
    # with a parent and a teacher, and every oversight view, about people.
    deleted = await school.say("Anne", room, "Réunion à 17 h")
    await moderation.redact(claire, room, deleted, "doublon")
    with_paul, _ = await chat.open_conversation(anne, [ids["Paul"], ids["Léa"]])
    await school.say("Anne", with_paul.id, "Bonjour Monsieur Martin")
    await school.say("Paul", with_paul.id, "Bonjour Madame")
    with_claire, _ = await chat.open_conversation(anne, [ids["Claire"]])
    await school.say("Claire", with_claire.id, "Le conseil de classe ?")
    await services.receipts.mark_read(anne, with_claire.id, 1)
    await services.receipts.mark_read(claire, with_claire.id, 1)
    chunks = await services.privacy.export(anne, ids["Léa"])
    async for _ in chunks:
        pass
    await moderation.audit(anne, school.school_id, AuditQuery(
        actor_id=ids["Claire"], target_person_id=ids["Léa"], room_id=room,
        action=AuditAction.MEMBER_MUTE))
    await moderation.audit(anne, school.school_id, AuditQuery(target_person_id=ids["Hugo"]))
    await moderation.reports(anne, school.school_id)
    await moderation.held(anne, room)
    await moderation.members(anne, room)
    await moderation.moderate_member(anne, room, ids["Chloé"], AuditAction.MEMBER_MUTE,
                                     "bavardages", duration_s=60)

    # Léa (paused by ``populate``, resumed by Anne): a group conversation with
    # receipts, a report of Hugo's message, an announcement she acknowledges,
    # a held message Claire rejects.
    assert await moderation.resume_account(anne, school.school_id, ids["Léa"], "vérifié")
    school.clock.now += 120_000  # her mute by Claire is over
    group, _ = await chat.open_conversation(lea, [ids["Hugo"], ids["Claire"]])
    await school.say("Hugo", group.id, "Qui a fait l'exercice 3 ?")
    await services.receipts.mark_read(lea, group.id, 1)
    await services.receipts.mark_read(await school.member("Hugo"), group.id, 1)
    hugo_says = await school.say("Hugo", room, "Léa est nulle")
    await moderation.report(lea, room, hugo_says, "il se moque de moi")
    school.txns += 1
    announced = await chat.send(claire, room, f"txn-{school.txns}", "Sortie jeudi", ack=True)
    assert announced.message is not None
    await services.receipts.acknowledge(lea, room, announced.message.seq)
    await moderation.set_policy(claire, room, PolicyChange(premoderation=Premoderation.PUPILS),
                                None)
    school.txns += 1
    held = await chat.send(lea, room, f"txn-{school.txns}", "Je peux sortir ?")
    assert held.held is not None
    await moderation.decide(claire, room, held.held.id, False, "pas maintenant")


async def test_no_other_persons_id_or_login_anywhere_in_an_export(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        await populate(school)
        await connect_everyone(school)

        anne, _ = await export_json(school, "Anne", "me")
        assert leaks(anne, school, "Anne") == []
        # Not vacuous: the sections that used to carry ids are there, by name.
        subjects = [v["subject"] for v in anne["views_read"]]
        assert "Léa Martin" in subjects  # the export she made for Léa
        assert any("Claire Durand" in s and "Léa Martin" in s for s in subjects)
        assert any("Hugo Bernard" in s for s in subjects)
        assert {c["conversation"]["participants"] == ["Léa Martin", "Paul Martin"]
                for c in anne["conversations"]} == {True, False}
        assert [m["by"] for m in anne["moderation"]] == ["Claire Durand"]

        lea, _ = await export_json(school, "Léa", "me")
        assert leaks(lea, school, "Léa") == []
        assert len(lea["conversations"]) == 3
        assert ["Claire Durand", "Hugo Bernard"] in [
            c["conversation"]["participants"] for c in lea["conversations"]]
        assert {h["decided_by"] for h in lea["held_messages"]} == {"Claire Durand"}
        assert len(lea["reports_made"]) == 1
        assert len(lea["memberships"]["acknowledged"]) == 2

        # The same export fetched by her father and by the admin: the same rule.
        for viewer in ("Paul", "Anne"):
            again, _ = await export_json(school, viewer, school.ids["Léa"])
            assert leaks(again, school, "Léa") == []
