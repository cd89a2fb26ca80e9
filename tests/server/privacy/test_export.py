"""A person's export: everything about them, nothing about anyone else
(other people only by display name), streamed page by page; who may have it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.errors import ErrorCode, PreauError
from preau.server.privacy.service import VIEW_EXPORT
from preau.server.store import privacy as privacy_store
from tests.server.privacy.school import CSV, School, export_json, populate, small_school


async def test_export_has_everything_about_the_person_and_nothing_else(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two rows: the export must stitch pages together.
    monkeypatch.setattr(privacy_store, "PAGE", 2)
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        data, raw = await export_json(school, "Léa", "me")

        lea = school.ids["Léa"]
        assert data["format"] == "preau-export/1"
        assert data["person"]["id"] == lea
        assert data["person"]["login"] == school.logins["Léa"]
        assert (data["person"]["first_name"], data["person"]["last_name"]) == ("Léa", "Martin")
        assert data["memberships"]["classes"] == [
            {"id": data["memberships"]["classes"][0]["id"], "name": "5A"}
        ]
        assert data["memberships"]["guardians"] == ["Paul Martin"]
        assert [s["kind"] for s in data["memberships"]["sessions"]] == ["bearer"]
        assert [m["body"] for m in data["messages"]] == ["Bonjour la classe", "Message à signaler"]
        assert {m["room"] for m in data["messages"]} == {scene.room}

        [conversation] = data["conversations"]
        assert conversation["conversation"]["participants"] == ["Hugo Bernard"]
        assert [(m["from"], m["body"]) for m in conversation["messages"]] == [
            ("me", "secret de Léa pour Hugo"), ("Hugo Bernard", "réponse de Hugo"),
        ]
        [mute] = data["moderation"]
        assert (mute["action"], mute["by"], mute["reason"]) == (
            "member.mute", "Claire Durand", "calme-toi"
        )
        assert [s["room"] for s in data["memberships"]["room_states"]] == [scene.room]
        assert [p["reason"] for p in data["memberships"]["paused"]] == ["burst"]
        assert [(r["room"], r["seq"]) for r in data["memberships"]["read_up_to"]] == [
            (scene.room, 2)]
        assert [(r["room"], r["seq"]) for r in data["memberships"]["acknowledged"]] == [
            (scene.room, 2)]
        assert [m["body"] for m in data["scheduled_messages"]] == ["à demain"]
        # Told of Hugo's reply: by his name, the conversation not named by its id.
        notified = [(n["kind"], n["room"], n["by"]) for n in data["memberships"]["notifications"]]
        assert ("message", "conversation", "Hugo Bernard") in notified
        [document] = data["documents_edited"]
        assert (document["document"], document["title"], document["edits"]) == (
            "doc-volcans", "Exposé sur les volcans", 2
        )

        text = raw.decode()
        # Nobody else's id, login or data; others only by display name.
        for other in ("Hugo", "Chloé", "Claire", "Paul", "Anne"):
            assert school.ids[other] not in text, other
            assert school.logins[other] not in text, other
        for foreign in ("Salut tout le monde", "Coucou de Chloé", "secret de Chloé", "Dubois",
                        "pas gentil", scene.chloe_hugo, scene.lea_hugo):
            assert foreign not in text, foreign


async def test_who_may_export_and_the_journal(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        await populate(school)
        lea = school.ids["Léa"]
        # Her father and the school's admin may; a classmate and a teacher may
        # not, and are told the same as for nobody.
        for viewer in ("Paul", "Anne"):
            data, _ = await export_json(school, viewer, lea)
            assert data["person"]["id"] == lea
        for viewer in ("Hugo", "Claire"):
            with pytest.raises(PreauError) as caught:
                await export_json(school, viewer, lea)
            assert caught.value.code is ErrorCode.NOT_FOUND
        with pytest.raises(PreauError) as caught:
            await export_json(school, "Anne", "no-such-person")
        assert caught.value.code is ErrorCode.NOT_FOUND

        journal = await school.services.privacy.journal(
            await school.member("Anne"), school.school_id, None, 50
        )
        exports = [e for e in journal["entries"] if e["view"] == VIEW_EXPORT]
        assert sorted(e["actor"]["name"] for e in exports) == ["Anne Petit", "Paul Martin"]
        assert {e["subject"] for e in exports} == {lea}
        # Her own export is not journaled; the journal is for admins only.
        await export_json(school, "Léa", "me")
        again = await school.services.privacy.journal(
            await school.member("Anne"), school.school_id, None, 50
        )
        assert len([e for e in again["entries"] if e["view"] == VIEW_EXPORT]) == 2
        with pytest.raises(PreauError) as caught:
            await school.services.privacy.journal(
                await school.member("Claire"), school.school_id, None, 50
            )
        assert caught.value.code is ErrorCode.FORBIDDEN


async def test_exports_are_rate_limited_per_requester(store_url: str, tmp_path: Path) -> None:
    from preau.server.privacy.service import EXPORTS_BURST

    async with small_school(store_url, tmp_path) as school:
        for _ in range(EXPORTS_BURST):
            await export_json(school, "Paul", school.ids["Léa"])
        with pytest.raises(PreauError) as caught:
            await export_json(school, "Paul", school.ids["Léa"])
        assert caught.value.code is ErrorCode.RATE_LIMITED
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 0
        # Someone else is not held back by Paul's limit.
        data, _ = await export_json(school, "Léa", "me")
        assert data["person"]["id"] == school.ids["Léa"]


async def _reimport(school: School, csv: str) -> None:
    """The directory changes (a re-import), and this node reloads it."""
    report = await import_directory(
        school.services.store, parse_csv(csv), uai="0751234A", school_name="Collège Hugo",
        timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=school.clock.now_ms(),
    )
    assert not report.errors
    await school.services.directory.reload(school.school_id)


def _conversation_texts(data: dict[str, Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    return [(c["conversation"], [(m["from"], m.get("body")) for m in c["messages"]])
            for c in data["conversations"]]


async def test_a_conversation_lost_when_a_relation_ended_gives_only_ones_own_words(
    store_url: str, tmp_path: Path
) -> None:
    """After a class move, two former classmates lose their conversation on
    every path (docs/conversations.md); their exports, and a parent's export
    of one of them, keep only the words each wrote, not the other's words nor
    who the other is. Whoever keeps a conversation gets it whole."""
    async with small_school(store_url, tmp_path) as school:
        paul_lea, _ = await school.services.chat.open_conversation(
            await school.member("Paul"), [school.ids["Léa"]])
        await school.say("Paul", paul_lea.id, "bisous de papa")
        await school.say("Léa", paul_lea.id, "merci papa")
        scene = await populate(school)  # (pauses Léa's account at its end)
        await _reimport(school, CSV.replace("E2;pupil;Bernard;Hugo;5A", "E2;pupil;Bernard;Hugo;5B"))
        assert scene.lea_hugo not in {
            r.id for r in await school.services.directory.conversations_of(
                await school.member("Léa"))}  # lost on every other path

        for viewer, whose in (("Léa", "me"), ("Paul", school.ids["Léa"])):
            data, raw = await export_json(school, viewer, whose)
            by_head = {json.dumps({k: v for k, v in conv.items() if k != "created"}): msgs
                       for conv, msgs in _conversation_texts(data)}
            assert by_head == {
                '{"lost": true}': [("me", "secret de Léa pour Hugo")],
                '{"participants": ["Paul Martin"]}': [
                    ("Paul Martin", "bisous de papa"), ("me", "merci papa")],
            }, viewer
            assert "réponse de Hugo" not in raw.decode()
            # What she was told of there keeps its kind and time only (who by,
            # which room: as the notification centre, which no longer lists it).
            notified = data["memberships"]["notifications"]
            lost = [n for n in notified if n.get("lost")]
            assert lost, notified
            assert all((n["room"], n["by"], n["seq"], n["data"]) == (None, None, None, {})
                       for n in lost)
            assert "Hugo Bernard" not in json.dumps(notified, ensure_ascii=False)

        data, raw = await export_json(school, "Hugo", "me")
        texts = sorted(msgs for _, msgs in _conversation_texts(data))
        assert texts == [[], [("me", "réponse de Hugo")]]  # Chloé's and Léa's, both lost
        assert all(conv == {"created": conv["created"], "lost": True}
                   for conv, _ in _conversation_texts(data))
        conversations = json.dumps(data["conversations"], ensure_ascii=False)
        for foreign in ("secret de Chloé", "secret de Léa", "Léa Martin", "Chloé Dubois"):
            assert foreign not in conversations, foreign


async def test_a_parent_who_lost_custody_keeps_only_their_own_words(
    store_url: str, tmp_path: Path
) -> None:
    """Paul's child is now Hugo, not Léa: he loses their conversation (she
    keeps it, read-only), and his export keeps only what he wrote in it."""
    async with small_school(store_url, tmp_path) as school:
        paul_lea, _ = await school.services.chat.open_conversation(
            await school.member("Paul"), [school.ids["Léa"]])
        await school.say("Paul", paul_lea.id, "bisous de papa")
        await school.say("Léa", paul_lea.id, "merci papa")
        await populate(school)
        await _reimport(school, CSV.replace("P1;parent;Martin;Paul;;E1;",
                                            "P1;parent;Martin;Paul;;E2;"))

        data, raw = await export_json(school, "Paul", "me")
        [(conversation, messages)] = _conversation_texts(data)
        assert conversation == {"created": conversation["created"], "lost": True}
        assert messages == [("me", "bisous de papa")]
        assert "merci papa" not in raw.decode()
        assert "Léa Martin" not in json.dumps(data["conversations"], ensure_ascii=False)
        # The child keeps it, read-only, whole.
        data, _ = await export_json(school, "Léa", "me")
        kept = [msgs for conv, msgs in _conversation_texts(data)
                if conv.get("participants") == ["Paul Martin"]]
        assert kept == [[("Paul Martin", "bisous de papa"), ("me", "merci papa")]]


async def test_notifications_from_a_room_a_moderator_removed_one_from_are_lost(
    store_url: str, tmp_path: Path
) -> None:
    """Removed from the class room by its teacher, Hugo no longer sees its
    notifications in his centre; his export keeps their kind and times only
    (the same rule: NotificationService.source_readable)."""
    from preau.server.store import AuditAction

    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        await school.say("Claire", scene.room, "@Hugo Bernard, ton exposé ?")
        await school.services.notifications.settled()
        data, _ = await export_json(school, "Hugo", "me")
        from_room = [n for n in data["memberships"]["notifications"] if n["room"] == scene.room]
        assert from_room
        assert not any(n.get("lost") for n in from_room)

        await school.services.moderation.moderate_member(
            await school.member("Claire"), scene.room, school.ids["Hugo"],
            AuditAction.MEMBER_REMOVE, "exclu")
        centre = await school.services.notifications.list(
            await school.member("Hugo"), before=None, limit=50)
        assert not [n for n in centre["notifications"] if n.get("room") == scene.room]
        data, _ = await export_json(school, "Hugo", "me")
        notified = data["memberships"]["notifications"]
        assert not [n for n in notified if n["room"] == scene.room]
        lost = [n for n in notified if n.get("lost")]
        assert len(lost) == len(from_room)
        assert all((n["room"], n["by"], n["seq"], n["data"]) == (None, None, None, {})
                   for n in lost)
