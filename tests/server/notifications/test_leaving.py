"""What is checked again whenever a mail, a digest or a push is about to
leave (preau/server/notifications/leaving.py), against the real SMTP sink and
push service of test_email.py and pushservice.py:

- a retry that falls in the school's quiet hours waits for the delivery
  window (an urgent message's goes through them, as its first attempt), and
  so does a job claimed again at night after its node died mid-send;
- a mail, digest or push already queued is dropped once its person no
  longer gets that kind that way (the one-click link, their preferences,
  the school forcing the kind off);
- the relay refusing the mail itself (5xx to MAIL FROM or DATA) is retried
  and never marks the address bouncing; a recipient refused (5xx to RCPT
  TO) does;
- a custody change imported by another process (the store changed, the
  node not told) stops a held mail and push as they leave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.notifications.push import URGENCY, urgency_of, was_urgent
from preau.server.services import Services
from tests.server.notifications.pushservice import PushService, b64, push_service
from tests.server.notifications.test_email import (
    Clock,
    Relay,
    give_addresses,
    paris_ms,
    relay,
    school_hours,
    sender,
)
from tests.server.notifications.test_push import Pushers
from tests.server.twonodes import Nodes, two_nodes

__all__ = ["relay"]  # a fixture


@pytest.fixture
def clock() -> Clock:
    return Clock(paris_ms(2027, 1, 13, 10, 0))  # a Wednesday morning


@pytest.fixture
async def nodes(tmp_path: Path, clock: Clock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:  # type: ignore[arg-type]
        yield pair


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    async with push_service() as found:
        yield found


@pytest.fixture
async def pushers(nodes: Nodes, clock: Clock) -> AsyncIterator[Pushers]:
    found = Pushers(nodes, clock)
    try:
        yield found
    finally:
        await found.close()


async def outcomes(node: Services, table: str) -> list[tuple[str, str | None]]:
    """Each job's status and why it was dropped, oldest first."""
    async with node.store.engine.transaction(readonly=True) as tx:
        rows = await tx.fetch(f"SELECT status, last_error FROM {table} ORDER BY created_ms, id")
    return [(r["status"], r["last_error"]) for r in rows]


# -- quiet hours hold retries too --------------------------------------------------------

async def test_a_mail_retried_into_quiet_hours_waits_for_the_morning(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    await school_hours(nodes, "07:00-20:00")
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    relay.answers["camille@famille.example"] = ["451 4.3.0 Try again later"]
    clock.now = paris_ms(2027, 1, 13, 19, 59, 30)  # half a minute before quiet hours
    await a.chat.open_conversation(nodes.member(a, "Claire Lefèvre"),
                                   [nodes.member(a, "Camille Martin").id])
    mail = sender(a, relay, clock, "node-a")
    assert await mail.send_due() == 0  # 451: again in 60 s, in quiet hours by then
    clock.now = paris_ms(2027, 1, 13, 20, 0, 30)
    assert await mail.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 6, 59, 59)
    assert await mail.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await mail.send_due() == 1
    assert len(relay.to("camille@famille.example")) == 1


async def test_an_urgent_mail_is_retried_through_quiet_hours(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    anne = nodes.member(a, "Anne Roux")
    await school_hours(nodes, "07:00-20:00")
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    relay.answers["camille@famille.example"] = ["451 4.3.0 Try again later"]
    clock.now = paris_ms(2027, 1, 13, 22, 0)
    room, _ = await a.chat.school_parents_room(anne, anne.school_id)
    await a.chat.send(anne, room.id, "u1", "Collège fermé demain (neige)", ack=True, urgent=True)
    mail = sender(a, relay, clock, "node-a")
    assert await mail.send_due() == 0  # 451
    clock.now += 60_000
    assert await mail.send_due() == 1  # its retry at 22:01, not at 07:00
    [sent] = relay.to("camille@famille.example")
    assert "Annonce de Anne Roux" in str(sent["Subject"])


async def test_a_push_retried_into_quiet_hours_waits_for_the_morning(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a = nodes.a
    await school_hours(nodes, "07:00-20:00")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    service.answers["phone"] = [(503, {})]
    clock.now = paris_ms(2027, 1, 13, 19, 59, 45)
    await a.chat.open_conversation(nodes.member(a, "Claire Lefèvre"), [camille.id])
    assert await pushers.a.send_due() == 0  # 503: again in 30 s, in quiet hours by then
    clock.now = paris_ms(2027, 1, 13, 20, 0, 15)
    assert await pushers.b.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 6, 59)
    assert await pushers.b.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await pushers.b.send_due() == 1
    assert len(service.to("phone")) == 1


async def school_hours_everywhere(nodes: Nodes, window: str) -> None:
    """``school_hours``, once node b was told of it too (through the broker)."""
    await school_hours(nodes, window)
    school_id = nodes.member(nodes.a, "Anne Roux").school_id
    for _ in range(200):
        view = await nodes.b.directory.school(school_id)
        if view is not None and view.school.quiet_hours == window:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("node b was not told of the school's delivery hours")


async def test_a_mail_whose_node_died_at_dusk_waits_for_the_morning(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a, b = nodes.a, nodes.b
    await school_hours_everywhere(nodes, "07:00-20:00")
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    clock.now = paris_ms(2027, 1, 13, 19, 59, 30)
    await a.chat.open_conversation(nodes.member(a, "Claire Lefèvre"),
                                   [nodes.member(a, "Camille Martin").id])
    # Node A claims it and dies before sending: its lease runs out at 20:00:30.
    assert len(await a.store.claim_email_jobs("node-a", clock.now, 60_000, 10)) == 1
    clock.now = paris_ms(2027, 1, 13, 20, 0, 45)
    mail = sender(b, relay, clock, "node-b")
    assert await mail.send_due() == 0  # claimed again in quiet hours: not sent
    assert relay.to("camille@famille.example") == []
    assert await outcomes(b, "email_jobs") == [("pending", "quiet hours")]
    clock.now = paris_ms(2027, 1, 14, 6, 59, 59)
    assert await mail.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await mail.send_due() == 1
    assert len(relay.to("camille@famille.example")) == 1


async def test_an_urgent_mail_whose_node_died_goes_at_its_leases_end(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a, b = nodes.a, nodes.b
    anne = nodes.member(a, "Anne Roux")
    await school_hours_everywhere(nodes, "07:00-20:00")
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    clock.now = paris_ms(2027, 1, 13, 22, 0)
    room, _ = await a.chat.school_parents_room(anne, anne.school_id)
    await a.chat.send(anne, room.id, "u1", "Collège fermé demain (neige)", ack=True, urgent=True)
    assert await a.store.claim_email_jobs("node-a", clock.now, 60_000, 10)
    clock.now += 61_000
    assert await sender(b, relay, clock, "node-b").send_due() == 1  # 22:01, not 07:00
    assert len(relay.to("camille@famille.example")) == 1


async def test_a_push_whose_node_died_at_dusk_waits_for_the_morning(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a = nodes.a
    await school_hours_everywhere(nodes, "07:00-20:00")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    clock.now = paris_ms(2027, 1, 13, 19, 59, 45)
    await a.chat.open_conversation(nodes.member(a, "Claire Lefèvre"), [camille.id])
    # Node A claims it and dies before pushing: its lease runs out at 20:00:45.
    assert await a.store.claim_push_jobs("node-a", clock.now, 60_000, 10)
    clock.now = paris_ms(2027, 1, 13, 20, 1)
    assert await pushers.b.send_due() == 0
    assert service.to("phone") == []
    assert await outcomes(a, "push_jobs") == [("pending", "quiet hours")]
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await pushers.b.send_due() == 1
    assert len(service.to("phone")) == 1


async def test_an_urgent_push_is_retried_through_quiet_hours(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a = nodes.a
    anne = nodes.member(a, "Anne Roux")
    await school_hours(nodes, "07:00-20:00")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    service.answers["phone"] = [(503, {})]
    clock.now = paris_ms(2027, 1, 13, 21, 30)
    room, _ = await a.chat.school_parents_room(anne, anne.school_id)
    await a.chat.send(anne, room.id, "u1", "Collège fermé demain (neige)", ack=True, urgent=True)
    assert await pushers.a.send_due() == 0  # 503
    clock.now += 30_000
    assert await pushers.a.send_due() == 1
    [push] = service.to("phone")
    assert push.headers["urgency"] == "high"


def test_which_push_jobs_are_urgent() -> None:
    """A job records its urgency; ``high`` says urgent where the kind alone
    would not push ``high`` (a call's push is, and still waits for the window)."""
    assert was_urgent("announcement", urgency_of("announcement", urgent=True))
    assert was_urgent("mention", urgency_of("mention", urgent=True))
    assert not was_urgent("announcement", urgency_of("announcement"))
    assert not was_urgent("call.started", urgency_of("call.started"))
    assert not was_urgent("held.approved", urgency_of("held.approved"))
    # A mention names the person as a private message does.
    assert URGENCY["mention"] == URGENCY["message"] == "normal"


# -- unsubscribed since it was queued: dropped ---------------------------------------------

async def test_queued_mails_stop_when_the_person_or_the_school_says_so(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    await give_addresses(nodes, Camille_Martin="camille@famille.example",
                         Julien_Bernard="julien@famille.example",
                         Sandrine_Dubois="sandrine@famille.example")
    claire, anne = nodes.member(a, "Claire Lefèvre"), nodes.member(a, "Anne Roux")
    camille, julien, sandrine = (nodes.member(a, n) for n in (
        "Camille Martin", "Julien Bernard", "Sandrine Dubois"))
    mail = sender(a, relay, clock, "node-a")
    room, _ = await a.chat.open_conversation(claire, [camille.id])
    await a.chat.send(claire, room.id, "t1", "Bonjour")
    assert await mail.send_due() == 2  # the conversation, the message
    link = str(next(m for m in relay.to("camille@famille.example")
                    if "privé" in str(m["Subject"]))["List-Unsubscribe"]).strip("<>")
    # Queued, then the one-click link of the earlier mail: not sent.
    await a.chat.send(claire, room.id, "t2", "Encore une chose")
    assert await a.notifications.unsubscribe(link.rsplit("/", 1)[1]) == "message"
    # Queued, then the person's preferences (on the other node): not sent.
    await a.chat.open_conversation(claire, [julien.id])
    await nodes.b.notifications.set_preferences(julien, {"conversation": "never"})
    # Queued, then the school forces the kind off: not sent.
    await a.chat.open_conversation(claire, [sandrine.id])
    await a.notifications.set_school_rules(anne, anne.school_id, {"conversation": "off"})
    assert await mail.send_due() == 0
    assert len(relay.mails) == 2
    assert sorted(await outcomes(a, "email_jobs")) == [
        ("failed", "unsubscribed")] * 3 + [("sent", None)] * 2


async def test_a_queued_digest_stops_when_the_kind_goes_back_to_the_app(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    camille, claire = nodes.member(a, "Camille Martin"), nodes.member(a, "Claire Lefèvre")
    julien = nodes.member(a, "Julien Garnier")
    await a.notifications.set_preferences(camille, {"message": "daily", "conversation": "daily"})
    first, _ = await a.chat.open_conversation(claire, [camille.id])
    second, _ = await a.chat.open_conversation(julien, [camille.id])
    await a.chat.send(claire, first.id, "c1", "Léa a oublié son cahier")
    await a.chat.send(julien, second.id, "j1", "Sortie au musée")
    clock.now = paris_ms(2027, 1, 13, 15, 0)
    await a.notifications.set_preferences(camille, {"message": "in_app"})
    clock.now = paris_ms(2027, 1, 13, 18, 0)
    assert await sender(nodes.b, relay, clock, "node-b").send_due() == 1
    [digest] = relay.to("camille@famille.example")
    assert str(digest["Subject"]) == "Préau : votre résumé du jour (2 notifications)"
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ouvert une conversation" in text
    assert "Nouveau message privé" not in text
    assert sorted(await outcomes(a, "email_jobs")) == [
        ("failed", "unsubscribed"), ("failed", "unsubscribed"), ("sent", None), ("sent", None)]


async def test_a_queued_push_stops_when_the_kind_goes_to_a_digest(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    a = nodes.a
    camille, claire = nodes.member(a, "Camille Martin"), nodes.member(a, "Claire Lefèvre")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    room, _ = await a.chat.open_conversation(claire, [camille.id])
    await a.chat.send(claire, room.id, "t1", "Bonjour")
    await a.notifications.set_preferences(camille, {"message": "weekly"})
    assert await pushers.b.send_due() == 1
    [push] = service.to("phone")
    assert "conversation" in phone.decrypt(push)["body"]
    assert sorted(await outcomes(a, "push_jobs")) == [("failed", "unsubscribed"), ("sent", None)]


# -- the relay's own refusals are not bounces ------------------------------------------------

async def test_the_relay_refusing_mail_is_retried_and_marks_no_address(
    nodes: Nodes, relay: Relay, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    a = nodes.a
    await give_addresses(nodes, Camille_Martin="camille@famille.example",
                         Julien_Bernard="julien@famille.example")
    claire = nodes.member(a, "Claire Lefèvre")
    camille, julien = nodes.member(a, "Camille Martin"), nodes.member(a, "Julien Bernard")
    mail = sender(a, relay, clock, "node-a")
    relay.sender_answers = ["530 5.7.0 Authentication required"]
    relay.data_answers = ["554 5.6.0 Message refused by policy"]
    await a.chat.open_conversation(claire, [camille.id])
    with caplog.at_level(logging.WARNING, logger="preau.server.notifications.email"):
        assert await mail.send_due() == 0  # 530 to MAIL FROM
        assert await a.store.emails_of([camille.id]) == {camille.id: "camille@famille.example"}
        clock.now += 60_000
        assert await mail.send_due() == 0  # 554 at DATA
        assert await a.store.emails_of([camille.id]) == {camille.id: "camille@famille.example"}
        clock.now += 120_000
        assert await mail.send_due() == 1  # the third attempt goes
    assert len(relay.to("camille@famille.example")) == 1
    warned = [r for r in caplog.records if "relay refuses" in r.getMessage()]
    assert len(warned) == 1  # once, for the run of refusals
    assert "530" in warned[0].getMessage()
    # Refused at every attempt: given up, still no bounce.
    relay.sender_answers = ["530 5.7.0 Authentication required"] * 3
    await a.chat.open_conversation(claire, [julien.id])
    for _ in range(3):
        assert await mail.send_due() == 0
        clock.now += 300_000
    counts = (await a.notifications.school_rules(nodes.member(a, "Anne Roux"),
                                                 camille.school_id))["email"]
    assert counts == {"pending": 0, "sent": 1, "bounced": 0, "failed": 1, "bouncing": 0}
    # A recipient refused for good (550 to RCPT TO) is a bounce.
    relay.answers["julien@famille.example"] = ["550 5.1.1 No such user"]
    room, _ = await a.chat.open_conversation(claire, [julien.id])
    await a.chat.send(claire, room.id, "t1", "Réunion")
    assert await mail.send_due() == 0
    assert await a.store.emails_of([julien.id]) == {}
    assert (await a.store.email_status(julien.id))["bouncing_since"] == clock.now


# -- a custody change imported elsewhere ----------------------------------------------------

async def imported_elsewhere(node: Services) -> None:
    """Karim Thomas (P004) is now Manon's parent (E005), not Nathan's (E004):
    a `preau import` in another process: the store changed, no node told."""
    rows = demo_csv().replace("P004;parent;Thomas;Karim;;E004;;",
                              "P004;parent;Thomas;Karim;;E005;;")
    assert rows != demo_csv()
    await import_directory(node.store, parse_csv(rows), uai=DEMO_UAI, school_name=DEMO_NAME,
                           timezone=DEMO_TIMEZONE, activation_ttl_s=3600,
                           now_ms=node.clock.now_ms())


async def test_a_custody_change_imported_elsewhere_stops_a_held_mail_and_push(
    nodes: Nodes, relay: Relay, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a, b = nodes.a, nodes.b
    await school_hours(nodes, "07:00-20:00")
    await give_addresses(nodes, Karim_Thomas="karim@famille.example")
    karim, nathan = nodes.member(a, "Karim Thomas"), nodes.member(a, "Nathan Thomas")
    phone = service.device("phone")
    await pushers.a.subscribe(karim, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    clock.now = paris_ms(2027, 1, 13, 22, 30)
    await a.chat.open_conversation(nathan, [karim.id])
    mail = sender(b, relay, clock, "node-b")
    assert await mail.send_due() == 0  # held for the morning
    assert await pushers.b.send_due() == 0
    await imported_elsewhere(a)
    clock.now = paris_ms(2027, 1, 14, 7, 0)  # well within the directory poll
    assert await mail.send_due() == 0
    assert await pushers.b.send_due() == 0
    assert relay.to("karim@famille.example") == []
    assert service.to("phone") == []
    assert await outcomes(a, "email_jobs") == [("failed", "out of reach")]
    assert await outcomes(a, "push_jobs") == [("failed", "out of reach")]
