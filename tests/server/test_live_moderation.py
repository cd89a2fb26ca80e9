"""Moderation end to end: a real server process, real sockets, the Python SDK.

Who is who in the demo school: Léa Martin, Hugo Bernard and Chloé Dubois are
pupils of 6eA; Claire Lefèvre teaches 6eA and 6eB (a moderator of both);
Julien Garnier teaches 6eA; Inès Petit is a pupil of 6eB (outside 6eA);
Anne Roux is staff and the school's administrator.

Each test leaves class 6eA as it found it (open, nothing held, nobody muted).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from preau_client import PreauClient

from tests.server.live import LiveServer, nothing, refused

pytestmark = pytest.mark.slow

DEFAULT_POLICY = {"mode": "open", "premoderation": "off", "slow_mode_s": 0,
                  "recall_window_s": 3600}


async def class_room(client: PreauClient, name: str = "6eA") -> str:
    rooms = (await client.me())["rooms"]
    return next(r["id"] for r in rooms if r["name"] == name)


@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    names = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Claire Lefèvre", "Inès Petit",
             "Anne Roux", "Julien Garnier"]
    clients = {name.split()[0]: await live.client(name) for name in names}
    try:
        yield clients
    finally:
        claire = clients["Claire"]
        room = await class_room(claire)
        await claire.post(f"/api/rooms/{room}/policy", DEFAULT_POLICY)
        for client in clients.values():
            await client.close()


async def test_the_teacher_holds_and_approves_a_pupils_message(
    people: dict[str, PreauClient],
) -> None:
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for conn in (a, b, c):
            await conn.subscribe(room)
        reply = await c.request("room.policy", room=room, premoderation="pupils",
                                reason="début d'année")
        assert reply["policy"]["premoderation"] == "pupils"
        await b.next_event("room.policy")

        txn = secrets.token_hex(8)
        sent = await a.send_message(room, "Madame, je peux poser une question ?", txn=txn)
        assert (sent["held"], sent["status"], sent["duplicate"]) == (True, "pending", False)
        assert "seq" not in sent
        for conn in (a, c):  # the author and the moderator see it, marked pending
            held = await conn.next_event("chat.held")
            assert (held["id"], held["status"], held["sender"]["name"]) == (
                sent["id"], "pending", "Léa Martin")
        await nothing(b, "chat.held")
        # A retry is the same held message, not a second one.
        again = await a.send_message(room, "Madame, je peux poser une question ?", txn=txn)
        assert (again["id"], again["duplicate"]) == (sent["id"], True)

        queue = (await c.request("held.list", room=room))["held"]
        assert [h["id"] for h in queue] == [sent["id"]]
        assert (await b.request("held.list", room=room))["held"] == []
        assert [h["id"] for h in (await a.request("held.list", room=room))["held"]] == [
            sent["id"]]
        assert [h["id"] for h in (await claire.get(f"/api/rooms/{room}/held"))["held"]] == [
            sent["id"]]
        await refused(b.request("held.approve", room=room, held=sent["id"]), "forbidden")

        # A teacher's own message is never held.
        own = await c.send_message(room, "Oui Léa ?")
        assert "held" not in own
        for conn in (a, b, c):
            assert (await conn.messages(room, 1))[0]["seq"] == own["seq"]

        decided = await claire.post(f"/api/rooms/{room}/held/{sent['id']}/approve")
        assert decided["held"]["status"] == "approved"
        for conn in (a, b, c):
            [message] = await conn.messages(room, 1)
            assert (message["seq"], message["txn"], message["body"]) == (
                own["seq"] + 1, txn, "Madame, je peux poser une question ?")
        approved = await a.next_event("chat.approved")
        assert (approved["id"], approved["seq"]) == (sent["id"], own["seq"] + 1)
        await nothing(b, "chat.approved")
        assert (await c.request("held.list", room=room))["held"] == []
        # Approving again: idempotent.
        again = await c.request("held.approve", room=room, held=sent["id"])
        assert again["duplicate"] is True


async def test_a_rejected_message_never_reaches_the_other_pupils(
    people: dict[str, PreauClient],
) -> None:
    lea, hugo, claire, ines = people["Léa"], people["Hugo"], people["Claire"], people["Inès"]
    room = await class_room(lea)
    await claire.post(f"/api/rooms/{room}/policy", {"premoderation": "everyone"})
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for conn in (a, b, c):
            await conn.subscribe(room)
        sent = await a.send_message(room, "un message déplacé")
        await c.next_event("chat.held")
        reply = await c.request("held.reject", room=room, held=sent["id"],
                                reason="Ce n'est pas le lieu.")
        assert reply["held"]["status"] == "rejected"
        rejected = await a.next_event("chat.rejected")
        assert (rejected["id"], rejected["reason"]) == (sent["id"], "Ce n'est pas le lieu.")
        await nothing(b, "chat.held")
        await nothing(b, "chat.message")
        await nothing(b, "chat.rejected")
        # The author still finds it, rejected, with the reason; nobody else does.
        [mine] = (await a.request("held.list", room=room))["held"]
        assert (mine["status"], mine["reason"]) == ("rejected", "Ce n'est pas le lieu.")
        await refused(c.request("held.approve", room=room, held=sent["id"]), "conflict")
        await refused(c.request("held.approve", room=room, held="h_nope"), "not_found")
    assert "déplacé" not in str(await hugo.history(room))
    await refused(ines.get(f"/api/rooms/{room}/held"), "not_found")  # another class: as unknown


async def test_a_deleted_message_disappears_live_and_never_comes_back(
    people: dict[str, PreauClient],
) -> None:
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    async with await lea.connect() as a, await claire.connect() as c:
        await a.subscribe(room)
        await c.subscribe(room)
        b = await hugo.connect()
        await b.subscribe(room)
        bad = await a.send_message(room, "un mot blessant")
        [seen] = await b.messages(room, 1)
        assert seen["body"] == "un mot blessant"
        resume_from = bad["seq"] - 1
        await b.close()

        deleted = await c.request("chat.redact", room=room, seq=bad["seq"], reason="propos")
        assert (deleted["redacts"], deleted["duplicate"]) == (bad["seq"], False)
        for conn in (a, c):
            redaction = await conn.next_event("chat.redaction")
            assert (redaction["seq"], redaction["redacts"], redaction["by"]["name"]) == (
                deleted["seq"], bad["seq"], "Claire Lefèvre")
        again = await c.request("chat.redact", room=room, seq=bad["seq"])
        assert (again["seq"], again["duplicate"]) == (deleted["seq"], True)
        await refused(c.request("chat.redact", room=room, seq=deleted["seq"] + 50), "not_found")
        await refused(c.request("chat.redact", room=room, seq=deleted["seq"]), "not_found")

        # Hugo comes back: the replay has a tombstone, then the redaction.
        async with await hugo.connect() as back:
            await back.subscribe(room, since=resume_from)
            [tombstone] = await back.messages(room, 1)
            assert tombstone == {"ev": "chat.message", "room": room, "seq": bad["seq"],
                                 "id": bad["id"], "sender": tombstone["sender"],
                                 "ts": bad["ts"], "redacted": True}
            assert (await back.next_event("chat.redaction"))["redacts"] == bad["seq"]
    history = await hugo.history(room, after=resume_from)
    assert [(h["ev"], h["seq"]) for h in history] == [
        ("chat.message", bad["seq"]), ("chat.redaction", deleted["seq"])]
    assert "body" not in history[0]
    assert "txn" not in history[0]
    assert "blessant" not in str(history)
    assert "blessant" not in str(await hugo.history(room))


async def test_a_muted_pupil_is_refused_with_muted_and_the_end_time(
    people: dict[str, PreauClient],
) -> None:
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for conn in (a, c):
            await conn.subscribe(room)
        mute = await c.request("member.mute", room=room, person=lea.person["id"],
                               duration_s=600, reason="bavardages")
        notice = await a.next_event("member.muted")
        assert (notice["until"], notice["reason"]) == (mute["until"], "bavardages")
        error = await refused(a.send_message(room, "encore moi"), "muted")
        assert error.details["until"] == mute["until"]
        assert (await a.subscribe(room))["muted_until"] == mute["until"]
        # Nor does her typing reach the class: refused, with the end of the mute.
        error = await refused(a.request("chat.typing", room=room), "muted")
        assert error.details["until"] == mute["until"]
        await nothing(c, "chat.typing")
        await b.send_message(room, "moi je peux")  # Hugo is not muted
        # Bad times, non-moderators, moderators as targets.
        for bad in ({"until": "demain"}, {"until": 1000}, {"duration_s": 0},
                    {"duration_s": 10, "until": mute["until"]}, {}):
            await refused(c.request("member.mute", room=room, person=hugo.person["id"], **bad),
                          "bad_request")
        await refused(b.request("member.mute", room=room, person=lea.person["id"],
                                duration_s=60), "forbidden")
        await refused(c.request("member.mute", room=room, person=people["Julien"].person["id"],
                                duration_s=60), "forbidden")
        await refused(c.request("member.mute", room=room, person=people["Inès"].person["id"],
                                duration_s=60), "not_found")
        await c.request("member.unmute", room=room, person=lea.person["id"])
        await a.next_event("member.unmuted")
        await a.request("chat.typing", room=room)
        assert (await c.next_event("chat.typing"))["person"]["id"] == lea.person["id"]
        assert "held" not in await a.send_message(room, "merci")


async def test_slow_mode(people: dict[str, PreauClient]) -> None:
    """Over the wire; the end of the window, with a clock the test moves, is
    in tests/server/moderation/test_service.py (no sleeping here)."""
    chloe, claire = people["Chloé"], people["Claire"]
    room = await class_room(chloe)
    await claire.post(f"/api/rooms/{room}/policy", {"slow_mode_s": 600})
    assert (await chloe.get(f"/api/rooms/{room}/policy"))["policy"]["slow_mode_s"] == 600
    async with await chloe.connect() as conn, await claire.connect() as teacher:
        await conn.send_message(room, "un")
        error = await refused(conn.send_message(room, "deux"), "rate_limited")
        assert 0 < error.details["retry_after"] <= 600
        for i in range(3):  # the teacher is not slowed down
            await teacher.send_message(room, f"consigne {i}")
        # Lifting slow mode lets her post at once.
        await claire.post(f"/api/rooms/{room}/policy", {"slow_mode_s": 0})
        await conn.send_message(room, "deux")


async def test_announcement_and_read_only_rooms(people: dict[str, PreauClient]) -> None:
    lea, claire = people["Léa"], people["Claire"]
    room = await class_room(lea)
    async with await lea.connect() as a, await claire.connect() as c:
        await c.request("room.policy", room=room, mode="announcement")
        reply = await a.subscribe(room)
        assert (reply["role"], reply["policy"]["mode"]) == ("reader", "announcement")
        await refused(a.send_message(room, "je peux ?"), "forbidden")
        await c.send_message(room, "Sortie au musée jeudi.")
        await c.request("room.policy", room=room, mode="read_only")
        await refused(c.send_message(room, "même pas moi"), "forbidden")
        await refused(a.request("room.policy", room=room, mode="open"), "forbidden")
        await c.request("room.policy", room=room, mode="open")
        assert (await a.subscribe(room))["role"] == "member"
        await a.send_message(room, "Merci !")


async def test_a_removed_pupil_loses_the_room_at_once(
    people: dict[str, PreauClient], live: LiveServer,
) -> None:
    hugo, claire = people["Hugo"], people["Claire"]
    room = await class_room(hugo)
    other_session = await live.client("Hugo Bernard")
    first, second = await hugo.connect(), await other_session.connect()
    async with await claire.connect() as c:
        for conn in (first, second, c):
            await conn.subscribe(room)
        removed = await c.request("member.remove", room=room, person=hugo.person["id"],
                                  reason="exclusion temporaire")
        assert removed["removed"] is True
        for conn in (first, second):
            revoked = await conn.next_event("room.revoked", timeout=5)
            assert (revoked["room"], revoked["reason"]) == (room, "removed")
        assert (await c.next_event("member.removed"))["person"]["id"] == hugo.person["id"]
        await c.send_message(room, "la suite")
        await nothing(first, "chat.message")
        await refused(first.subscribe(room), "not_found")
        await refused(first.send_message(room, "je suis encore là ?"), "not_found")
        await refused(first.request("presence.list", room=room), "not_found")
        await refused(hugo.history(room), "not_found")
        members = (await c.request("member.list", room=room))["members"]
        assert [m["removed"] for m in members if m["id"] == hugo.person["id"]] == [True]

        await claire.post(f"/api/rooms/{room}/members/{hugo.person['id']}/readmit")
        await first.subscribe(room)
        await first.send_message(room, "me revoilà")
    for conn in (first, second):
        await conn.close()
    await other_session.close()


async def test_authors_recall_within_the_window(people: dict[str, PreauClient]) -> None:
    """Over the wire; past the window, with a clock the test moves: see
    tests/server/moderation/test_service.py (no sleeping here)."""
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    await claire.post(f"/api/rooms/{room}/policy", {"recall_window_s": 3600})
    async with await lea.connect() as a, await hugo.connect() as b:
        await b.subscribe(room)
        oops = await a.send_message(room, "oups, mauvaise salle")
        recalled = await a.request("chat.redact", room=room, seq=oops["seq"])
        assert recalled["redacts"] == oops["seq"]
        assert (await b.next_event("chat.redaction"))["by"]["name"] == "Léa Martin"
        kept = await a.send_message(room, "trop tard pour celui-ci")
        await refused(b.request("chat.redact", room=room, seq=kept["seq"]), "forbidden")
        # A window of 0 forbids recall: too late at once.
        await claire.post(f"/api/rooms/{room}/policy", {"recall_window_s": 0})
        error = await refused(a.request("chat.redact", room=room, seq=kept["seq"]), "forbidden")
        assert "late" in error.message
        # Through REST too, for the teacher at any time.
        out = await claire.post(f"/api/rooms/{room}/messages/{kept['seq']}/redact",
                                {"reason": "doublon"})
        assert out["redacts"] == kept["seq"]


async def test_the_audit_log_is_for_the_schools_admins(
    people: dict[str, PreauClient], live: LiveServer,
) -> None:
    lea, claire, anne, julien = people["Léa"], people["Claire"], people["Anne"], people["Julien"]
    room = await class_room(lea)
    school = (await anne.me())["school"]["id"]
    async with await lea.connect() as a, await claire.connect() as c:
        said = await a.send_message(room, "texte à effacer")
        await c.request("chat.redact", room=room, seq=said["seq"], reason="audit")
        await c.request("member.mute", room=room, person=lea.person["id"], duration_s=60,
                        reason="audit")
        await c.request("member.unmute", room=room, person=lea.person["id"])

    page = await anne.get(f"/api/schools/{school}/audit", limit=2)
    assert [e["action"] for e in page["entries"]] == ["member.unmute", "member.mute"]
    assert page["entries"][1]["details"]["until"] > 0
    assert page["entries"][1]["actor"]["name"] == "Claire Lefèvre"
    older = await anne.get(f"/api/schools/{school}/audit", limit=1, before=page["next"])
    [deleted] = older["entries"]
    assert (deleted["action"], deleted["content"], deleted["reason"], deleted["message_seq"],
            deleted["target"]["name"], deleted["room"]["name"]) == (
        "message.delete", "texte à effacer", "audit", said["seq"], "Léa Martin", "6eA")
    only = await anne.get(f"/api/schools/{school}/audit", action="member.mute",
                          target=lea.person["id"])
    assert only["entries"]
    assert {e["action"] for e in only["entries"]} == {"member.mute"}
    for outsider in (claire, julien, lea):  # teachers who are not admins, pupils
        error = await refused(outsider.get(f"/api/schools/{school}/audit"), "forbidden")
        assert error.status == 403
    await refused(anne.get("/api/schools/another-school/audit"), "forbidden")
    for bad in ({"limit": 0}, {"action": "nope"}, {"before": "yesterday"}):
        await refused(anne.get(f"/api/schools/{school}/audit", **bad), "bad_request")


async def test_the_openapi_description_lists_the_moderation_endpoints(
    people: dict[str, PreauClient],
) -> None:
    doc = await people["Léa"].get("/api/openapi.json")
    assert {
        "/api/rooms/{room}/policy", "/api/rooms/{room}/held",
        "/api/rooms/{room}/held/{held}/approve", "/api/rooms/{room}/held/{held}/reject",
        "/api/rooms/{room}/messages/{seq}/redact", "/api/rooms/{room}/members",
        "/api/rooms/{room}/members/{person}/mute", "/api/rooms/{room}/members/{person}/remove",
        "/api/schools/{school}/audit",
    } <= set(doc["paths"])
    errors = doc["paths"]["/api/rooms/{room}/policy"]["post"]["responses"]["default"]
    assert "muted" in errors["description"]
