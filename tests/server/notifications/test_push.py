"""Web Push against a push service started here on loopback
(tests/server/notifications/pushservice.py): every push is decrypted with
the subscribing device's private key (http_ece, aes128gcm) and its VAPID
token checked (ES256 signature with Préau's public key, aud, exp, sub),
with TTL and Urgency; no message content in it; two nodes pushing each
notification once; 404/410 removing the subscription; 429/5xx retried with
back-off; quiet hours holding a push; a recalled message never pushed;
bogus subscriptions refused with a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.notifications.push import WebPush, new_private_key, public_key_of, subject
from preau.server.notifications.push import load_private_key as load_key
from preau.server.settings import Settings
from preau.server.store.privacy import PrivacyStore
from tests.server.notifications.pushservice import PushService, b64, push_service, verify_vapid
from tests.server.notifications.test_email import Clock, changed_custody, paris_ms, school_hours
from tests.server.twonodes import Nodes, two_nodes

SUBJECT = "mailto:ent@college.example"


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000_000)


@pytest.fixture
async def nodes(tmp_path: Path, clock: Clock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:  # type: ignore[arg-type]
        yield pair


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    async with push_service() as found:
        yield found


def settings(**more: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=Path("."), public_url="https://ent.college.example", vapid_subject=SUBJECT,
        push_allow_loopback=True, push_retry_s=30, push_attempts=3, push_ttl_s=3600,
        push_timeout_s=5)
    values.update(more)
    return Settings(**values)


class Pushers:
    """A ``WebPush`` per node (the nodes' own settings refuse loopback)."""

    def __init__(self, nodes: Nodes, clock: Clock, **more: Any) -> None:
        self.made = [WebPush(node.store, node.directory, settings(**more), clock, name,
                             visible=node.notifications.visible_to)
                     for node, name in ((nodes.a, "node-a"), (nodes.b, "node-b"))]
        self.a, self.b = self.made

    async def close(self) -> None:
        for one in self.made:
            await one.close()


@pytest.fixture
async def pushers(nodes: Nodes, clock: Clock) -> AsyncIterator[Pushers]:
    found = Pushers(nodes, clock)
    try:
        yield found
    finally:
        await found.close()


async def test_a_push_decrypted_with_the_devices_key(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    phone = service.device("camille-phone")
    added = await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth),
                                      "Téléphone")
    assert added["label"] == "Téléphone"
    room, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    await nodes.a.chat.send(claire, room.id, "t1", "Léa a oublié son cahier de textes")
    assert await pushers.b.send_due() == 2  # the conversation, the message
    public = (await pushers.a.public_key())["public_key"]
    assert public == (await pushers.b.public_key())["public_key"]  # one key, every node
    got = sorted((phone.decrypt(p) for p in service.to("camille-phone")),
                 key=lambda d: str(d["body"]))
    assert [d["body"] for d in got] == [
        "Claire Lefèvre a ouvert une conversation avec vous",
        "Nouveau message privé de Claire Lefèvre"]
    for data in got:
        assert data["title"] == "Préau"
        assert data["url"] == f"/room/{room.id}"
        assert data["lang"] == "fr"
        assert data["tag"].startswith("n_")
    for push in service.to("camille-phone"):
        assert b"cahier" not in push.body  # encrypted, and never the message anyway
        assert "cahier" not in str(phone.decrypt(push))
        assert push.headers["ttl"] == "3600"
        assert push.headers["urgency"] == "normal"
        verify_vapid(push, public, service.origin, SUBJECT)
    # Sent once; the device's last success is known.
    assert await pushers.a.send_due() == 0
    [device] = (await pushers.a.devices(camille))["devices"]
    assert device["last_ok"] is not None
    # Nobody else has the device; the counts for the school's admins.
    anne = nodes.member(nodes.a, "Anne Roux")
    assert (await pushers.a.devices(anne))["devices"] == []
    assert (await nodes.a.notifications.school_rules(anne, anne.school_id))["push"] == {
        "pending": 0, "sent": 2, "gone": 0, "failed": 0, "devices": 1}


async def test_two_nodes_push_each_notification_once(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    parents = ["Camille Martin", "Julien Bernard", "Sandrine Dubois"]
    devices = {}
    for name in parents:
        member = nodes.member(nodes.a, name)
        for n in (1, 2):  # a phone and a computer each
            device = service.device(f"{member.id}-{n}")
            await pushers.b.subscribe(member, device.endpoint, device.p256dh, b64(device.auth),
                                      "")
            devices[device.name] = device
    class_a = next(c for c in claire.classes
                   if nodes.a.directory._schools[claire.school_id].classes[c].name == "6eA")
    room, _ = await nodes.a.chat.parents_room(claire, class_a)
    for i in range(5):
        await nodes.a.chat.send(claire, room.id, f"a{i}", f"Annonce {i}", ack=True)
    counts = await asyncio.gather(*(p.send_due() for p in pushers.made for _ in range(2)))
    assert sum(counts) == 5 * len(devices)
    for name, device in devices.items():
        got = [device.decrypt(p) for p in service.to(name)]
        assert len(got) == 5
        assert len({d["tag"] for d in got}) == 5
        assert all(d["body"].startswith("Annonce de Claire Lefèvre") for d in got)


async def test_404_and_410_remove_the_subscription(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    old, lost, kept = (service.device(n) for n in ("old", "lost", "kept"))
    for device in (old, lost, kept):
        await pushers.a.subscribe(camille, device.endpoint, device.p256dh, b64(device.auth), "")
    service.forgotten.update({"old": 410, "lost": 404})
    room, _ = await nodes.a.chat.open_conversation(claire, [camille.id])
    await nodes.a.chat.send(claire, room.id, "t1", "Bonjour")
    # Each device: the conversation then the message; a forgotten device's
    # subscription is removed with its pushes.
    assert await pushers.a.send_due() == 2
    assert len(service.to("kept")) == 2
    assert service.to("old") == service.to("lost") == []
    left = (await pushers.a.devices(camille))["devices"]
    assert [d["endpoint"] for d in left] == [kept.endpoint]
    counts = await nodes.a.store.push_counts(camille.school_id)
    assert counts == {"pending": 0, "sent": 2, "gone": 4, "failed": 0, "devices": 1}
    # Nothing more is queued for them.
    await nodes.a.chat.send(claire, room.id, "t2", "Bonsoir")
    assert await pushers.a.send_due() == 1
    assert (await nodes.a.store.push_counts(camille.school_id))["gone"] == 4


async def test_429_and_5xx_retried_with_back_off(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    julien = nodes.member(nodes.a, "Julien Bernard")
    busy, down = service.device("busy"), service.device("down")
    await pushers.a.subscribe(camille, busy.endpoint, busy.p256dh, b64(busy.auth), "")
    await pushers.a.subscribe(julien, down.endpoint, down.p256dh, b64(down.auth), "")
    service.answers["busy"] = [(429, {"Retry-After": "120"})]
    service.answers["down"] = [(503, {}), (502, {}), (500, {})]
    await nodes.a.chat.open_conversation(claire, [camille.id])
    await nodes.a.chat.open_conversation(claire, [julien.id])
    assert await pushers.a.send_due() == 0
    clock.now += 30_000  # the 503: again after 30 s; the 429 asked for 120 s
    assert await pushers.b.send_due() == 0  # 502: again after 60 s
    clock.now += 60_000
    assert await pushers.a.send_due() == 0  # 500: third attempt, given up
    clock.now += 30_000
    assert await pushers.a.send_due() == 1  # the 429's push, 120 s later
    assert len(service.to("busy")) == 1
    assert service.to("down") == []
    counts = await nodes.a.store.push_counts(camille.school_id)
    assert counts == {"pending": 0, "sent": 1, "gone": 0, "failed": 1, "devices": 2}


async def test_quiet_hours_hold_a_push_until_the_morning(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a = nodes.a
    await school_hours(nodes, "07:00-20:00")
    claire = nodes.member(a, "Claire Lefèvre")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    clock.now = paris_ms(2027, 1, 13, 21, 30)  # a Wednesday evening
    await a.chat.open_conversation(claire, [camille.id])
    assert await pushers.a.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 6, 59)
    assert await pushers.a.send_due() == 0
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await pushers.a.send_due() == 1
    assert len(service.to("phone")) == 1


async def test_a_push_held_for_the_morning_is_dropped_when_out_of_reach(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    """Nathan writes to his father at night; before the morning Karim loses
    custody: the held push never reaches Karim's phone, a teacher's does."""
    a = nodes.a
    await school_hours(nodes, "07:00-20:00")
    karim, nathan = nodes.member(a, "Karim Thomas"), nodes.member(a, "Nathan Thomas")
    claire = nodes.member(a, "Claire Lefèvre")
    phone = service.device("phone")
    await pushers.a.subscribe(karim, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    clock.now = paris_ms(2027, 1, 13, 21, 30)
    await a.chat.open_conversation(nathan, [karim.id])
    await a.chat.open_conversation(claire, [karim.id])
    assert await pushers.a.send_due() == 0
    await changed_custody(nodes)
    clock.now = paris_ms(2027, 1, 14, 7, 0)
    assert await pushers.b.send_due() == 1
    [shown] = [phone.decrypt(push) for push in service.to("phone")]
    assert "Claire Lefèvre" in str(shown["body"])
    assert "Nathan" not in str(shown)
    assert await pushers.a.send_due() == 0  # dropped, not waiting


async def test_what_is_not_pushed(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    """A recalled message, a kind in a digest or never, another's device."""
    a = nodes.a
    claire = nodes.member(a, "Claire Lefèvre")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    room, _ = await a.chat.open_conversation(claire, [camille.id])
    sent = await a.chat.send(claire, room.id, "t1", "Oups, pas à vous")
    assert sent.message is not None
    await nodes.b.moderation.redact(claire, room.id, sent.message.seq, None)
    await a.notifications.set_preferences(camille, {"message": "daily"})
    await a.chat.send(claire, room.id, "t2", "Pour le résumé")
    await a.notifications.set_preferences(camille, {"message": "never"})
    await a.chat.send(claire, room.id, "t3", "Jamais")
    assert await pushers.a.send_due() == 1
    [push] = service.to("phone")
    assert phone.decrypt(push)["body"] == "Claire Lefèvre a ouvert une conversation avec vous"
    # Removing a device stops its pushes; another's device is not found.
    [device] = (await pushers.a.devices(camille))["devices"]
    with pytest.raises(PreauError) as refused:
        await pushers.a.unsubscribe(claire, device["id"])
    assert refused.value.code is ErrorCode.NOT_FOUND
    await a.notifications.set_preferences(camille, {"message": None})
    await a.chat.send(claire, room.id, "t4", "Encore")
    await pushers.b.unsubscribe(camille, device["id"])
    assert await pushers.a.send_due() == 0
    assert (await pushers.a.devices(camille))["devices"] == []


async def test_bogus_subscriptions_are_refused(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    camille = nodes.member(nodes.a, "Camille Martin")
    good = service.device("good")
    key, auth = good.p256dh, b64(good.auth)
    strict = WebPush(nodes.a.store, nodes.a.directory, settings(push_allow_loopback=False),
                     clock, "strict", visible=nodes.a.notifications.visible_to)

    async def refused(pusher: WebPush, endpoint: str, p256dh: str = key, secret: str = auth,
                      label: str = "") -> str:
        with pytest.raises(PreauError) as error:
            await pusher.subscribe(camille, endpoint, p256dh, secret, label)
        assert error.value.code is ErrorCode.BAD_REQUEST
        return error.value.message

    assert await refused(strict, good.endpoint) == "endpoint: a push service's https:// URL"
    assert await refused(pushers.a, "http://10.0.0.7/push/x") == (
        "endpoint: a push service's https:// URL")
    assert await refused(pushers.a, "https://10.0.0.7/push/x") == (
        "endpoint: a push service's host name, not an address")
    assert await refused(pushers.a, "https://[::1]/push/x") == (
        "endpoint: a push service's host name, not an address")
    assert await refused(pushers.a, "https://intranet.lycee.example/push") == (
        "endpoint: not a push service this server sends to")
    assert await refused(pushers.a, "https://user:pw@fcm.googleapis.com/x") == (
        "endpoint: a push service's https:// URL")
    assert await refused(pushers.a, "https://fcm.googleapis.com:99999/x") == "endpoint: not a URL"
    assert await refused(pushers.a, "https://fcm.googleapis.com/" + "x" * 2100) == (
        "endpoint: at most 2048 characters")
    bad_key = "keys.p256dh: a P-256 public key (65 bytes, base64url)"
    assert await refused(pushers.a, good.endpoint, p256dh="not base64!") == bad_key
    assert await refused(pushers.a, good.endpoint, p256dh=b64(b"\x04" + b"\x01" * 64)) == bad_key
    assert await refused(pushers.a, good.endpoint, p256dh=key[:40]) == bad_key
    assert await refused(pushers.a, good.endpoint, secret=b64(b"x" * 15)) == (
        "keys.auth: 16 bytes, base64url")
    assert await refused(pushers.a, good.endpoint, secret="") == "keys.auth: 16 bytes, base64url"
    assert await refused(pushers.a, good.endpoint, label="x\n") == (
        "label: at most 80 printable characters")
    # A real push service's endpoint is taken (its keys well-formed).
    fcm = await strict.subscribe(camille, "https://fcm.googleapis.com/fcm/send/abc", key, auth,
                                 "Chrome")
    assert fcm["endpoint"].startswith("https://fcm.googleapis.com/")
    # Ten devices at most: the eleventh is refused until one is removed.
    for n in range(9):
        device = service.device(f"d{n}")
        await pushers.a.subscribe(camille, device.endpoint, device.p256dh, b64(device.auth), "")
    with pytest.raises(PreauError) as full:
        await pushers.a.subscribe(camille, good.endpoint, key, auth, "")
    assert full.value.code is ErrorCode.CONFLICT
    # The same browser subscribing again replaces its keys (no new device).
    again = service.device("d0")
    await pushers.a.subscribe(camille, again.endpoint, again.p256dh, b64(again.auth), "")
    assert len((await pushers.a.devices(camille))["devices"]) == 10
    await strict.close()


def test_the_vapid_subject() -> None:
    """RFC 8292 wants mailto: or https:; push services refuse anything else."""
    assert subject(settings()) == SUBJECT
    assert subject(settings(vapid_subject="")) == "https://ent.college.example"
    assert subject(Settings(data_dir=Path("."), public_url="http://127.0.0.1:8000",
                            smtp_from="Préau <ne-pas-repondre@college.example>")) == (
        "mailto:ne-pas-repondre@college.example")


async def test_the_operators_vapid_key(nodes: Nodes, clock: Clock) -> None:
    raw = new_private_key()
    mine = WebPush(nodes.a.store, nodes.a.directory, settings(vapid_private_key=raw), clock, "x",
                   visible=nodes.a.notifications.visible_to)
    assert (await mine.public_key())["public_key"] == public_key_of(load_key(raw))
    # The generated one is kept in the store: the same on both nodes, and
    # after a restart.
    generated = (await nodes.a.push.public_key())["public_key"]
    assert generated != public_key_of(load_key(raw))
    again = WebPush(nodes.b.store, nodes.b.directory, settings(), clock, "y",
                    visible=nodes.b.notifications.visible_to)
    assert (await again.public_key())["public_key"] == generated
    with pytest.raises(ValueError, match="base64url"):
        load_key("trop court")


async def test_export_and_erasure_carry_the_devices(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    camille = nodes.member(nodes.a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "Tél")
    await nodes.a.chat.open_conversation(claire, [camille.id])
    privacy = PrivacyStore(nodes.a.store.engine)
    exported = await privacy.export_relations(camille.id)
    assert exported["push"] == {"devices": [{
        "endpoint": phone.endpoint, "label": "Tél", "since": exported["push"]["devices"][0][
            "since"], "last_ok": None}], "sent": 0}
    person = await privacy.person(camille.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", False, 1, "identity")
    assert (await privacy.erasure_step(job, "identity", "traces", 2))[0]
    assert await nodes.a.store.push_subscriptions_of([camille.id]) == {}
    assert await pushers.a.send_due() == 0
    assert service.pushes == []


async def test_an_urgent_message_goes_through_quiet_hours(
    nodes: Nodes, service: PushService, pushers: Pushers, clock: Clock
) -> None:
    a = nodes.a
    anne = nodes.member(a, "Anne Roux")
    await school_hours(nodes, "07:00-20:00")
    camille = nodes.member(a, "Camille Martin")
    phone = service.device("phone")
    await pushers.a.subscribe(camille, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    clock.now = paris_ms(2027, 1, 13, 21, 30)  # a Wednesday evening
    room, _ = await a.chat.school_parents_room(anne, anne.school_id)
    await a.chat.send(anne, room.id, "u1", "Collège fermé demain (neige)", ack=True, urgent=True)
    # (A message that is not urgent is itself held until the morning: quiet
    # hours, docs/moderation.md; its push then waits too, tested above.)
    assert await pushers.b.send_due() == 1  # at once, with high urgency
    [push] = service.to("phone")
    assert push.headers["urgency"] == "high"
    assert phone.decrypt(push)["body"].startswith("Annonce de Anne Roux")


async def test_a_push_in_the_persons_language_with_the_schools_excerpt(
    nodes: Nodes, service: PushService, pushers: Pushers
) -> None:
    a = nodes.a
    claire = nodes.member(a, "Claire Lefèvre")
    anne = nodes.member(a, "Anne Roux")
    julien = nodes.member(a, "Julien Bernard")
    lea = nodes.member(a, "Léa Martin")
    phone, tablet = service.device("julien"), service.device("lea")
    await pushers.a.subscribe(julien, phone.endpoint, phone.p256dh, b64(phone.auth), "")
    await pushers.a.subscribe(lea, tablet.endpoint, tablet.p256dh, b64(tablet.auth), "")
    await a.notifications.set_language(julien, "en")
    await a.notifications.set_school_rules(anne, anne.school_id, {}, excerpt=True)
    room, _ = await a.chat.open_conversation(claire, [julien.id])
    await a.chat.send(claire, room.id, "t1", "Hugo a été très sage aujourd'hui")
    class_a = next(c for c in claire.classes
                   if a.directory._schools[claire.school_id].classes[c].name == "6eA")
    class_room = next(r for r in a.directory._schools[claire.school_id].rooms.values()
                      if r.class_id == class_a and r.kind.value == "class")
    await a.chat.send(claire, class_room.id, "t2", "Contrôle de maths lundi", ack=True)
    assert await pushers.a.send_due() >= 3
    got = [phone.decrypt(p) for p in service.to("julien")]
    message = next(d for d in got if d["body"].startswith("New private message"))
    assert message["lang"] == "en"
    assert message["body"] == ("New private message from Claire Lefèvre\n"
                               "Hugo a été très sage aujourd'hui")
    # A pupil: who and where only, whatever the school chose.
    [to_lea] = [tablet.decrypt(p) for p in service.to("lea")]
    assert "maths" not in to_lea["body"]
    assert to_lea["lang"] == "fr"
