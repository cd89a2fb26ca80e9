"""The word filter and reports end to end: a real server process, real
sockets, the Python SDK. Anne Roux (staff, the school's admin) edits the lists; Claire
Lefèvre teaches 6eA (a moderator); Léa Martin and Hugo Bernard are pupils of
6eA. Each test puts the school's lists back as it found them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from preau_client import PreauClient

from tests.server.live import LiveServer
from tests.server.test_live_moderation import class_room, nothing, refused

pytestmark = pytest.mark.slow

LISTS = {"block": ["connard", "fils de pute"], "hold": ["kill yourself"],
         "alert": ["débile"]}


@pytest.fixture
async def people(live: LiveServer) -> AsyncIterator[dict[str, PreauClient]]:
    names = ["Léa Martin", "Hugo Bernard", "Claire Lefèvre", "Anne Roux"]
    clients = {name.split()[0]: await live.client(name) for name in names}
    anne = clients["Anne"]
    school = (await anne.me())["school"]["id"]
    before = await anne.get(f"/api/schools/{school}/word-filter")
    await anne.put(f"/api/schools/{school}/word-filter", LISTS)
    try:
        yield clients
    finally:
        await anne.put(f"/api/schools/{school}/word-filter", before)
        for client in clients.values():
            await client.close()


async def test_only_the_schools_admins_edit_the_lists_and_it_is_audited(
    people: dict[str, PreauClient],
) -> None:
    anne, claire = people["Anne"], people["Claire"]
    school = (await anne.me())["school"]["id"]
    path = f"/api/schools/{school}/word-filter"
    assert await anne.get(path) == LISTS
    await refused(claire.get(path), "forbidden")
    await refused(claire.put(path, LISTS), "forbidden")
    await refused(anne.put(path, {"block": ["x"], "hold": []}), "bad_request")
    await refused(anne.put(path, {"block": ["!!"], "hold": [], "alert": []}), "bad_request")
    saved = await anne.put(path, {**LISTS, "alert": ["débile", " Débile ", "nul"]})
    assert saved["alert"] == ["débile", "nul"]
    entries = (await anne.get(f"/api/schools/{school}/audit",
                              action="word_filter.change"))["entries"]
    assert entries[0]["actor"]["name"] == "Anne Roux"
    await anne.put(path, LISTS)


async def test_block_hold_and_alert(people: dict[str, PreauClient]) -> None:
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for conn in (a, b, c):
            await conn.subscribe(room)

        # block: refused with `filtered`, nobody sees anything.
        error = await refused(a.send_message(room, "Espèce de CONNARD"), "filtered")
        assert "words" in error.message
        await nothing(b, "chat.message")
        # Whole words only, and moderators are not filtered.
        await a.send_message(room, "la connardise n'est pas un mot")
        await b.next_event("chat.message")
        await c.send_message(room, "connard, c'est un mot interdit")
        await b.next_event("chat.message")

        # hold: queued although the room has no pre-moderation; the teacher sees it.
        sent = await a.send_message(room, "kill yourself")
        assert (sent["held"], sent["status"]) == (True, "pending")
        held = await c.next_event("chat.held")
        assert held["id"] == sent["id"]
        await nothing(b, "chat.held")
        queue = (await c.request("held.list", room=room))["held"]
        assert sent["id"] in [h["id"] for h in queue]
        await c.request("held.reject", room=room, held=sent["id"], reason="filtre")

        # alert: posted, and the teacher is told (the pupils are not).
        posted = await a.send_message(room, "c'est DEBILE")
        assert "seq" in posted, posted
        alert = await c.next_event("moderation.alert")
        assert (alert["room"], alert["seq"], alert["sender"], alert["words"]) == (
            room, posted["seq"], lea.person["id"], ["débile"])
        await nothing(b, "moderation.alert")
    entries = (await people["Anne"].get(
        f"/api/schools/{(await lea.me())['school']['id']}/audit",
        action="word_filter.alert"))["entries"]
    assert (entries[0]["message_seq"], entries[0]["details"]) == (
        posted["seq"], {"words": ["débile"]})


async def test_a_pupil_reports_a_message_and_the_admin_deletes_it(
    people: dict[str, PreauClient],
) -> None:
    lea, hugo, claire, anne = people["Léa"], people["Hugo"], people["Claire"], people["Anne"]
    room = await class_room(lea)
    school = (await anne.me())["school"]["id"]
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for conn in (a, b, c):
            await conn.subscribe(room)
        await b.send_message(room, "avant")
        bad = await b.send_message(room, "tu es moche")
        await b.send_message(room, "après")
        await a.messages(room, 3)

        made = await a.request("chat.report", room=room, seq=bad["seq"], reason="méchant")
        assert (made["report"]["seq"], made["report"]["status"], made["duplicate"]) == (
            bad["seq"], "open", False)
        again = await a.request("chat.report", room=room, seq=bad["seq"])
        assert (again["report"]["id"], again["duplicate"]) == (made["report"]["id"], True)
        await refused(a.request("chat.report", room=room, seq=bad["seq"] + 100), "not_found")
        # REST works too; a pupil does not see the queue.
        via_rest = await hugo.post(f"/api/rooms/{room}/messages/{bad['seq']}/report", {})
        assert via_rest["report"]["reporter"]["name"] == "Hugo Bernard"
        await refused(hugo.get(f"/api/schools/{school}/reports"), "forbidden")

        # The teacher sees the report with the message and its context.
        queue = (await claire.get(f"/api/schools/{school}/reports"))["reports"]
        mine = next(r for r in queue if r["id"] == made["report"]["id"])
        assert mine["message"]["body"] == "tu es moche"
        assert mine["reason"] == "méchant"
        bodies = [e.get("body") for e in mine["context"]]
        assert bodies[bodies.index("tu es moche") - 1:][:3] == ["avant", "tu es moche", "après"]
        # Léa's report answers Hugo as an unknown one; his own, as not his to resolve.
        await refused(hugo.post(f"/api/schools/{school}/reports/{mine['id']}/resolve",
                                {"outcome": "delete"}), "not_found")
        await refused(hugo.post(
            f"/api/schools/{school}/reports/{via_rest['report']['id']}/resolve",
            {"outcome": "delete"}), "forbidden")

        # The admin deletes it through the report: gone for everyone, reporters told.
        done = await anne.post(f"/api/schools/{school}/reports/{mine['id']}/resolve",
                               {"outcome": "delete", "reason": "insulte"})
        assert (done["report"]["status"], done["duplicate"]) == ("deleted", False)
        for conn in (a, b, c):
            redaction = await conn.next_event("chat.redaction")
            assert redaction["redacts"] == bad["seq"]
        for conn in (a, b):  # both reporters
            outcome = await conn.next_event("report.resolved")
            assert (outcome["seq"], outcome["outcome"]) == (bad["seq"], "deleted")
        await nothing(c, "report.resolved")
        await refused(anne.post(f"/api/schools/{school}/reports/{mine['id']}/resolve",
                                {"outcome": "keep"}), "conflict")
    history = await claire.history(room, after=bad["seq"] - 1, limit=1)
    assert history[0].get("redacted") is True
    assert "body" not in history[0]
    queue = (await anne.get(f"/api/schools/{school}/reports"))["reports"]
    assert mine["id"] not in [r["id"] for r in queue]
    entries = (await anne.get(f"/api/schools/{school}/audit",
                              action="report.resolve"))["entries"]
    assert {e["details"]["report"] for e in entries[:2]} == {
        made["report"]["id"], via_rest["report"]["id"]}


async def test_keeping_a_reported_message(people: dict[str, PreauClient]) -> None:
    lea, hugo, claire = people["Léa"], people["Hugo"], people["Claire"]
    room = await class_room(lea)
    school = (await claire.me())["school"]["id"]
    async with await lea.connect() as a:
        await a.subscribe(room)
        sent = await a.send_message(room, "une question")
        made = await hugo.post(f"/api/rooms/{room}/messages/{sent['seq']}/report", {})
        kept = await claire.post(
            f"/api/schools/{school}/reports/{made['report']['id']}/resolve", {"outcome": "keep"})
        assert kept["report"]["status"] == "kept"
        await nothing(a, "chat.redaction")
    assert (await claire.history(room, after=sent["seq"] - 1, limit=1))[0]["body"] == (
        "une question")
