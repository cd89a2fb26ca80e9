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
from preau.server.errors import ErrorCode, PreauError
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
    # answers to give the next MAIL FROM, the next DATA (then accepted): the
    # relay's own refusals (its authentication, its rules), whoever the mail is for
    sender_answers: list[str] = field(default_factory=list)
    data_answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    greetings: int = 0  # EHLO commands: one per connection

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            if self.sender_answers:
                return self.sender_answers.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

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
            if self.data_answers:
                return self.data_answers.pop(0)
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
    return EmailSender(node.store, node.directory, settings, clock, name,  # type: ignore[arg-type]
                       visible=node.notifications.visible_to)


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
    assert relay.greetings == 1  # one connection for the pass's mails
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
    await school_hours(nodes, "07:00-20:00")
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


async def test_an_urgent_message_is_mailed_through_quiet_hours(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    anne = nodes.member(a, "Anne Roux")
    await school_hours(nodes, "07:00-20:00")
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    clock.now = paris_ms(2027, 1, 13, 22, 0)
    room, _ = await a.chat.school_parents_room(anne, anne.school_id)
    await a.chat.send(anne, room.id, "u1", "Collège fermé demain (neige)", ack=True, urgent=True)
    mail = sender(a, relay, clock, "node-a")
    assert await mail.send_due() == 1  # at once, not at 07:00
    [sent] = relay.to("camille@famille.example")
    assert "Annonce de Anne Roux" in str(sent["Subject"])


async def test_a_person_changes_their_address_with_a_confirmation_link(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    camille = nodes.member(nodes.a, "Camille Martin")
    mail = sender(nodes.a, relay, clock, "node-a")
    asked = await mail.request_change(camille, " Camille.Martin@Nouveau.EXAMPLE ")
    assert asked["email"] == "camille@famille.example"  # not before the link is followed
    assert asked["pending"] == {"email": "Camille.Martin@nouveau.example",
                                "expires": clock.now + 86_400_000}
    [sent] = relay.to("Camille.Martin@nouveau.example")
    assert "confirmez votre adresse" in str(sent["Subject"])
    text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = next(w for w in text.split() if "/api/account/email/confirm/" in w)
    token = link.rsplit("/", 1)[1]
    # Once a minute at most (a relay is not a spam cannon).
    with pytest.raises(PreauError) as again:
        await mail.request_change(camille, "autre@famille.example")
    assert again.value.code is ErrorCode.RATE_LIMITED
    # Followed once (on any node), it is the address; a second time, nothing.
    other = sender(nodes.b, relay, clock, "node-b")
    assert await other.confirm_change(token)
    assert not await other.confirm_change(token)
    status = await mail.my_email(camille)
    assert (status["email"], status["pending"]) == ("Camille.Martin@nouveau.example", None)
    # The next import does not put the school's older address back.
    await nodes.a.store.set_emails(camille.school_id, {camille.id: "camille@famille.example"}, 1)
    assert (await mail.my_email(camille))["email"] == "Camille.Martin@nouveau.example"
    # A link expires after 24 hours.
    clock.now += 61_000
    await mail.request_change(camille, "tard@famille.example")
    late = relay.to("tard@famille.example")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    late_token = next(w for w in late.split() if "/confirm/" in w).rsplit("/", 1)[1]
    clock.now += 86_400_000
    assert not await mail.confirm_change(late_token)
    assert not await mail.confirm_change("x" * 32)
    assert (await mail.my_email(camille))["email"] == "Camille.Martin@nouveau.example"
    # Bad input, pupils.
    for bad in ("pas une adresse", "a@b", "x" * 250 + "@ex.example", "a..b@ex.example"):
        with pytest.raises(PreauError) as refused:
            await mail.request_change(camille, bad)
        assert refused.value.code is ErrorCode.BAD_REQUEST, bad
    lea = nodes.member(nodes.a, "Léa Martin")
    with pytest.raises(PreauError) as pupil:
        await mail.request_change(lea, "lea@famille.example")
    assert pupil.value.code is ErrorCode.FORBIDDEN


async def test_nobodys_mailbox_is_flooded_with_confirmation_links(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    """Each adult may ask once a minute; an address gets at most
    PREAU_RECOVERY_PER_EMAIL_HOUR (3) confirmation mails an hour, whoever
    asks (an outside probe: 60 an hour to any address from one account)."""
    camille = nodes.member(nodes.a, "Camille Martin")
    julien = nodes.member(nodes.a, "Julien Bernard")
    mail = sender(nodes.a, relay, clock, "node-a")
    for _ in range(3):
        await mail.request_change(camille, "victime@ailleurs.example")
        clock.now += 61_000
    for who in (camille, julien):
        with pytest.raises(PreauError) as flooded:
            await mail.request_change(who, "Victime@Ailleurs.example")
        assert flooded.value.code is ErrorCode.RATE_LIMITED
        assert flooded.value.retry_after is not None
        assert flooded.value.retry_after > 0
    assert len(relay.to("victime@ailleurs.example")) == 3
    await mail.request_change(julien, "julien@nouveau.example")  # another address: as before
    assert len(relay.to("julien@nouveau.example")) == 1


async def test_mails_in_the_persons_language_and_the_schools_excerpt(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    await give_addresses(nodes, Camille_Martin="camille@famille.example",
                         Julien_Bernard="julien@famille.example")
    claire = nodes.member(a, "Claire Lefèvre")
    anne = nodes.member(a, "Anne Roux")
    camille, julien = nodes.member(a, "Camille Martin"), nodes.member(a, "Julien Bernard")
    assert await a.notifications.set_language(julien, "en") == {"language": "en"}
    with pytest.raises(PreauError):
        await a.notifications.set_language(julien, "de")
    mail = sender(a, relay, clock, "node-a")
    rooms = {}
    for person in (camille, julien):
        rooms[person.id], _ = await a.chat.open_conversation(claire, [person.id])
        await a.chat.send(claire, rooms[person.id].id, f"t-{person.id}",
                          "Votre enfant a oublié son cahier de textes aujourd'hui")
    assert await mail.send_due() == 4
    [to_julien] = [m for m in relay.to("julien@famille.example") if "message" in str(m["Subject"])]
    assert str(to_julien["Subject"]) == "Préau : New private message from Claire Lefèvre"
    assert to_julien["Content-Language"] == "en, fr"
    text = to_julien.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("Open Préau") < text.index("Ouvrir Préau")  # English first
    assert "cahier" not in to_julien.as_string()  # no excerpt by default
    [to_camille] = [m for m in relay.to("camille@famille.example") if "privé" in str(m["Subject"])]
    assert to_camille["Content-Language"] == "fr, en"
    # The school turns the excerpt on: adults' mails carry the message's first words.
    rules = await a.notifications.set_school_rules(anne, anne.school_id, {}, excerpt=True)
    assert rules["excerpt"] is True
    await a.chat.send(claire, rooms[camille.id].id, "t2", "Réunion parents-professeurs "
                      "jeudi à 18 h en salle 12, " + "merci de confirmer votre présence " * 8)
    assert await mail.send_due() == 1
    last = relay.to("camille@famille.example")[-1]
    body = last.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "« Réunion parents-professeurs jeudi à 18 h en salle 12," in body
    [quoted] = [line for line in body.splitlines() if line.startswith("« ")]
    assert len(quoted) == len("« " + " »") + 140
    assert quoted.endswith("… »")
    # Recalled before its mail left: no mail, so no excerpt either.
    sent = await a.chat.send(claire, rooms[camille.id].id, "t3", "Secret")
    assert sent.message is not None
    await a.moderation.redact(claire, rooms[camille.id].id, sent.message.seq, None)
    assert await mail.send_due() == 0
    assert (await a.notifications.set_school_rules(anne, anne.school_id, {}, excerpt=False))[
        "excerpt"] is False


async def school_hours(nodes: Nodes, window: str) -> None:
    """The demo school's delivery hours (quiet outside them), set by its admin."""
    anne = nodes.member(nodes.a, "Anne Roux")
    await nodes.a.moderation.set_school_settings(anne, anne.school_id, quiet_hours=window,
                                                 parents_may_message=None)


async def changed_custody(nodes: Nodes) -> None:
    """Karim Thomas (P004) is now Manon's parent (E005), not Nathan's (E004):
    a re-import on node a, told to node b."""
    rows = demo_csv().replace("P004;parent;Thomas;Karim;;E004;;",
                              "P004;parent;Thomas;Karim;;E005;;")
    assert rows != demo_csv()
    await nodes.reimport(rows)


async def test_a_digest_leaves_out_what_went_out_of_reach(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    """Karim chose a daily digest; before it leaves he loses custody of Nathan:
    the digest names the teacher who still reaches him, never his former
    child's conversation, and an immediate mail held by quiet hours for
    that conversation is dropped too (counted as given up)."""
    clock.now = paris_ms(2027, 1, 13, 10, 0)  # a Wednesday morning
    await give_addresses(nodes, Karim_Thomas="karim@famille.example")
    a = nodes.a
    karim, nathan = nodes.member(a, "Karim Thomas"), nodes.member(a, "Nathan Thomas")
    claire = nodes.member(a, "Claire Lefèvre")
    await a.notifications.set_preferences(karim, {"message": "daily", "conversation": "daily"})
    child, _ = await a.chat.open_conversation(nathan, [karim.id])
    await a.chat.send(nathan, child.id, "n1", "Papa, tu viens me chercher ?")
    teacher, _ = await a.chat.open_conversation(claire, [karim.id])
    await a.chat.send(claire, teacher.id, "c1", "Réunion parents-professeurs")
    await changed_custody(nodes)
    clock.now = paris_ms(2027, 1, 13, 18, 0)
    assert await sender(nodes.b, relay, clock, "node-b").send_due() == 1
    [digest] = relay.to("karim@famille.example")
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert str(digest["Subject"]) == "Préau : votre résumé du jour (2 notifications)"
    for part in (text, html):
        assert teacher.id in part
        assert child.id not in part
        assert child.name not in part
        assert "Nathan" not in part
    counts = (await a.notifications.school_rules(nodes.member(a, "Anne Roux"),
                                                 karim.school_id))["email"]
    assert (counts["sent"], counts["failed"], counts["pending"]) == (2, 2, 0)


async def test_a_mail_held_for_the_morning_is_dropped_when_out_of_reach(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    a = nodes.a
    await school_hours(nodes, "07:00-20:00")
    clock.now = paris_ms(2027, 1, 13, 22, 30)  # outside the school's delivery hours
    await give_addresses(nodes, Karim_Thomas="karim@famille.example")
    karim, nathan = nodes.member(a, "Karim Thomas"), nodes.member(a, "Nathan Thomas")
    room, _ = await a.chat.open_conversation(nathan, [karim.id])
    assert await sender(nodes.a, relay, clock, "node-a").send_due() == 0  # held
    await changed_custody(nodes)
    clock.now = paris_ms(2027, 1, 14, 9, 0)
    assert await sender(nodes.b, relay, clock, "node-b").send_due() == 0
    assert relay.to("karim@famille.example") == []
    counts = (await a.notifications.school_rules(nodes.member(a, "Anne Roux"),
                                                 karim.school_id))["email"]
    assert (counts["sent"], counts["failed"], counts["pending"]) == (0, 1, 0)
    assert room.kind.value == "private"

