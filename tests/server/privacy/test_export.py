"""A person's export: everything about them, nothing about anyone else
(other people only by display name), streamed page by page; who may have it."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.privacy.service import VIEW_EXPORT
from preau.server.store import privacy as privacy_store
from tests.server.privacy.school import export_json, populate, small_school


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
