"""Notification e-mails against a real SMTP server (aiosmtpd, started here on
a free port): an immediate mail without the message's content, French first,
with List-Unsubscribe and a one-click unsubscribe; two nodes sending each
mail exactly once; a recalled message's mail never sent; 4xx retried with
back-off, 5xx marking the address bouncing; addresses from the import's
``courriel`` column, a malformed one reported by line and the row kept."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.notifications.email import EmailSender
from preau.server.services import Services
from preau.server.settings import Settings
from tests.server.live import free_port
from tests.server.twonodes import Nodes, two_nodes


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@dataclass
class Relay:
    """What the SMTP server received, and how it answers some addresses."""

    port: int
    mails: list[EmailMessage] = field(default_factory=list)
    # address → answers to give its next RCPT TO (then accepted)
    answers: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            waiting = self.answers.get(address)
            if waiting:
                return waiting.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.mails if m["To"] == address]


@pytest.fixture
def relay() -> Iterator[Relay]:
    found = Relay(free_port())
    controller = Controller(found, hostname="127.0.0.1", port=found.port)
    controller.start()
    try:
        yield found
    finally:
        controller.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000_000)


@pytest.fixture
async def nodes(tmp_path: Path, clock: Clock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:  # type: ignore[arg-type]
        yield pair


def sender(node: Services, relay: Relay, clock: Clock, name: str,
           per_minute: int = 600) -> EmailSender:
    settings = Settings(data_dir=Path("."), smtp_host="127.0.0.1", smtp_port=relay.port,
                        smtp_from="Préau <ne-pas-repondre@college.example>",
                        public_url="https://ent.college.example", email_retry_s=60,
                        email_attempts=3, smtp_timeout_s=10, email_per_minute=per_minute)
    return EmailSender(node.store, node.directory, settings, clock, name)  # type: ignore[arg-type]


async def give_addresses(nodes: Nodes, **names: str) -> dict[str, str]:
    ids = {}
    for name, address in names.items():
        member = nodes.member(nodes.a, name.replace("_", " "))
        ids[address] = member.id
        await nodes.a.store.set_emails(member.school_id, {member.id: address}, 0)
    return ids


async def test_an_immediate_mail_without_the_content(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    room, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    await nodes.a.chat.send(claire, room.id, "t1", "Léa a oublié son cahier de textes")
    assert await sender(nodes.b, relay, clock, "node-b").send_due() == 2
    mails = relay.to("camille@famille.example")
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == ["Préau : Claire Lefèvre a ouvert une conversation avec vous",
                        "Préau : Nouveau message privé de Claire Lefèvre"]
    mail = next(m for m in mails if "privé" in str(m["Subject"]))
    assert mail["From"] == "Préau <ne-pas-repondre@college.example>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(mail["List-Unsubscribe"]).strip("<>")
    assert link.startswith("https://ent.college.example/api/notifications/unsubscribe/")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert "cahier" not in part  # never the message
        assert f"https://ent.college.example/room/{room.id}" in part
        assert link in part
    assert text.index("Ouvrir Préau") < text.index("Open Préau")  # French first
    assert '<html lang="fr">' in html
    # Sent once: another pass sends nothing.
    assert await sender(nodes.a, relay, clock, "node-a").send_due() == 0
    assert len(relay.mails) == 2

    # One click, no login: no more mail for private messages; still in the app.
    assert await nodes.a.notifications.unsubscribe(link.rsplit("/", 1)[1])
    assert not await nodes.a.notifications.unsubscribe("x" * 32)
    prefs = {k["kind"]: k["channel"] for k in
             (await nodes.a.notifications.preferences(camille))["kinds"]}
    assert prefs["message"] == "in_app"
    await nodes.a.chat.send(claire, room.id, "t2", "Encore une chose")
    assert await sender(nodes.a, relay, clock, "node-a").send_due() == 0
    assert len(relay.mails) == 2
    assert sorted(n.kind for n in await nodes.a.store.notifications_of(camille.id, None, 10)) \
        == ["conversation", "message", "message"]


async def test_two_nodes_send_each_mail_once(nodes: Nodes, relay: Relay, clock: Clock) -> None:
    parents = ["Camille Martin", "Julien Bernard", "Sandrine Dubois", "Karim Thomas",
               "Nathalie Robert"]
    addresses = await give_addresses(nodes, **{
        p.replace(" ", "_"): f"{p.split()[0].lower()}@famille.example" for p in parents})
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    class_a = next(c for c in claire.classes
                   if nodes.a.directory._schools[claire.school_id].classes[c].name == "6eA")
    room, _ = await nodes.a.chat.parents_room(claire, class_a)
    for i in range(10):
        await nodes.a.chat.send(claire, room.id, f"a{i}", f"Annonce {i}", ack=True)
    senders = [sender(nodes.a, relay, clock, "node-a"), sender(nodes.b, relay, clock, "node-b")]
    counts = await asyncio.gather(*(s.send_due() for s in senders for _ in range(2)))
    assert sum(counts) == 10 * len(addresses)
    for address in addresses:
        got = relay.to(address)
        assert len(got) == 10, address
        assert len({str(m["Message-ID"]) for m in got}) == 10
    assert (await nodes.a.notifications.school_rules(
        nodes.member(nodes.a, "Anne Roux"), claire.school_id))["email"] == {
        "pending": 0, "sent": 50, "bounced": 0, "failed": 0, "bouncing": 0}


async def test_a_recalled_message_is_never_mailed(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    room, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    sent = await nodes.a.chat.send(claire, room.id, "t1", "Oups, pas à vous")
    assert sent.message is not None
    await nodes.b.moderation.redact(claire, room.id, sent.message.seq, None)
    assert await sender(nodes.a, relay, clock, "node-a").send_due() == 1
    [mail] = relay.to("camille@famille.example")
    assert "conversation" in str(mail["Subject"])


async def test_4xx_retried_with_back_off_and_5xx_bouncing(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    await give_addresses(nodes, Camille_Martin="camille@famille.example",
                         Julien_Bernard="julien@famille.example")
    relay.answers["camille@famille.example"] = ["451 4.3.0 Try again later"] * 2
    relay.answers["julien@famille.example"] = ["550 5.1.1 No such user"]
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    anne = nodes.member(nodes.a, "Anne Roux")
    camille, julien = nodes.member(nodes.a, "Camille Martin"), nodes.member(nodes.a,
                                                                             "Julien Bernard")
    for person in (camille, julien):
        room, _ = await nodes.a.chat.open_conversation(claire, [person.id])
    mail_a = sender(nodes.a, relay, clock, "node-a")
    assert await mail_a.send_due() == 0  # 451 for Camille, 550 for Julien
    assert relay.mails == []
    counts = (await nodes.a.notifications.school_rules(anne, anne.school_id))["email"]
    assert counts == {"pending": 1, "sent": 0, "bounced": 1, "failed": 0, "bouncing": 1}
    assert await mail_a.send_due() == 0  # not due yet: 60 s
    clock.now += 60_000
    assert await mail_a.send_due() == 0  # 451 again: next in 120 s
    clock.now += 60_000
    assert await mail_a.send_due() == 0
    clock.now += 60_000
    assert await sender(nodes.b, relay, clock, "node-b").send_due() == 1
    assert len(relay.to("camille@famille.example")) == 1
    # Julien's address bounces: nothing more is queued for it.
    room, _ = await nodes.a.chat.open_conversation(claire, [julien.id])
    await nodes.a.chat.send(claire, room.id, "t9", "Réunion")
    assert (await nodes.a.notifications.school_rules(anne, anne.school_id))["email"][
        "pending"] == 0
    # A new address from the import is not bouncing any more.
    await nodes.a.store.set_emails(julien.school_id, {julien.id: "julien@ailleurs.example"}, 1)
    await nodes.a.chat.send(claire, room.id, "t10", "Réunion (bis)")
    assert await mail_a.send_due() == 1
    assert len(relay.to("julien@ailleurs.example")) == 1


async def test_the_courriel_column(nodes: Nodes) -> None:
    lines = demo_csv().splitlines()
    header = lines[0] + ";courriel"
    rows = []
    for line in lines[1:]:
        if line.startswith("P00"):  # parents: some good, one bad
            rows.append(line + (";pas-une-adresse" if line.startswith("P001;") else
                                f";{line.split(';')[0].lower()}@Famille.Example"))
        else:
            rows.append(line + ";")
    parsed = parse_csv("\n".join([header, *rows]) + "\n")
    [bad] = parsed.errors
    assert bad.line == 1 + 1 + next(i for i, r in enumerate(rows) if r.startswith("P001;"))
    assert bad.field == "courriel"
    assert bad.shown().endswith("adresse électronique invalide : la ligne est gardée sans elle")
    assert any(p.external_id == "P001" and p.email is None for p in parsed.people)
    a = nodes.a
    report = await import_directory(
        a.store, parsed, uai=DEMO_UAI, school_name=DEMO_NAME, timezone=DEMO_TIMEZONE,
        activation_ttl_s=3600, now_ms=a.clock.now_ms())
    view = await a.store.load_school(report.school.id)
    assert view is not None
    ids = {p.external_id: p.id for p in view.people.values()}
    found = await a.store.emails_of(list(ids.values()))
    assert ids["P001"] not in found
    assert found[ids["P002"]] == "p002@famille.example"


def paris_ms(*when: int) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return int(datetime(*when, tzinfo=ZoneInfo("Europe/Paris")).timestamp() * 1000)  # type: ignore[misc]


async def test_daily_and_weekly_digests(nodes: Nodes, relay: Relay, clock: Clock) -> None:
    clock.now = paris_ms(2027, 1, 13, 10, 0)  # a Wednesday morning
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    a = nodes.a
    camille = nodes.member(a, "Camille Martin")
    claire, julien = nodes.member(a, "Claire Lefèvre"), nodes.member(a, "Julien Garnier")
    await a.notifications.set_preferences(camille, {"message": "daily",
                                                    "announcement": "weekly"})
    first, _ = await a.chat.open_conversation(claire, [camille.id])
    second, _ = await a.chat.open_conversation(julien, [camille.id])
    await a.chat.send(claire, first.id, "c1", "Léa a oublié son cahier")
    clock.now = paris_ms(2027, 1, 13, 11, 0)
    await a.chat.send(julien, second.id, "j1", "Sortie au musée")
    await a.chat.send(claire, first.id, "c2", "Et sa trousse")
    class_a = next(c for c in claire.classes
                   if a.directory._schools[claire.school_id].classes[c].name == "6eA")
    parents, _ = await a.chat.parents_room(claire, class_a)
    await a.chat.send(claire, parents.id, "ann", "Réunion jeudi", ack=True)
    senders = [sender(nodes.a, relay, clock, "node-a"), sender(nodes.b, relay, clock, "node-b")]
    # The two conversations opened: e-mails at once (the default).
    assert await senders[0].send_due() == 2
    clock.now = paris_ms(2027, 1, 13, 17, 59)
    assert await senders[1].send_due() == 0
    clock.now = paris_ms(2027, 1, 13, 18, 0)
    counts = await asyncio.gather(*(s.send_due() for s in senders))
    assert sorted(counts) == [0, 1]  # one digest, by one node
    digest = relay.to("camille@famille.example")[-1]
    assert str(digest["Subject"]) == "Préau : votre résumé du jour (3 notifications)"
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Grouped by conversation, no content.
    assert text.index(f"« {first.name} »") < text.index(f"« {second.name} »")
    assert text.count("Nouveau message privé de Claire Lefèvre") == 2
    assert text.count("Nouveau message privé de Julien Garnier") == 1
    assert "cahier" not in text
    assert "musée" not in text
    # Weekly: Friday 18:00, not before.
    clock.now = paris_ms(2027, 1, 14, 18, 0)
    assert await senders[0].send_due() == 0
    clock.now = paris_ms(2027, 1, 15, 18, 0)
    assert await senders[1].send_due() == 1
    weekly = relay.to("camille@famille.example")[-1]
    assert str(weekly["Subject"]) == "Préau : votre résumé de la semaine (1 notification)"
    assert "Annonce de Claire Lefèvre" in weekly.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The digest's unsubscribe link: the kinds in that digest go back to the app.
    link = str(digest["List-Unsubscribe"]).strip("<>")
    assert await a.notifications.unsubscribe(link.rsplit("/", 1)[1])
    prefs = {k["kind"]: k["channel"] for k in (await a.notifications.preferences(camille))["kinds"]}
    assert (prefs["message"], prefs["announcement"]) == ("in_app", "weekly")
    assert len(relay.mails) == 4


async def test_quiet_hours_hold_a_mail_until_the_morning(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    anne = nodes.member(a, "Anne Roux")
    await a.moderation.set_school_settings(anne, anne.school_id, quiet_hours="07:00-20:00",
                                           parents_may_message=None)
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    clock.now = paris_ms(2027, 1, 13, 21, 30)  # a Wednesday evening
    claire = nodes.member(a, "Claire Lefèvre")
    camille = nodes.member(a, "Camille Martin")
    await a.chat.open_conversation(claire, [camille.id])
    # In the app at once; the mail waits for the morning.
    assert [n.kind for n in await a.store.notifications_of(camille.id, None, 10)] == [
        "conversation"]
    mail = sender(a, relay, clock, "node-a")
    assert await mail.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 6, 59)
    assert await mail.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await mail.send_due() == 1
    assert len(relay.to("camille@famille.example")) == 1


async def test_a_send_rate_per_school_protects_the_relay(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    parents = ["Camille Martin", "Julien Bernard", "Sandrine Dubois", "Karim Thomas",
               "Nathalie Robert"]
    await give_addresses(nodes, **{
        p.replace(" ", "_"): f"{p.split()[0].lower()}@famille.example" for p in parents})
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    class_a = next(c for c in claire.classes
                   if nodes.a.directory._schools[claire.school_id].classes[c].name == "6eA")
    room, _ = await nodes.a.chat.parents_room(claire, class_a)
    await nodes.a.chat.send(claire, room.id, "a1", "Annonce", ack=True)
    senders = [sender(nodes.a, relay, clock, "node-a", per_minute=3),
               sender(nodes.b, relay, clock, "node-b", per_minute=3)]
    # Two nodes together: three this minute, not six.
    assert sum(await asyncio.gather(*(s.send_due() for s in senders))) == 3
    clock.now += 30_000
    assert await senders[1].send_due() == 0
    clock.now += 31_000
    assert await senders[0].send_due() == 2
    assert len(relay.mails) == 5
    assert len({m["To"] for m in relay.mails}) == 5
