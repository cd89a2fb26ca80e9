"""Password recovery by e-mail (preau/server/auth/recovery.py) against a real
SMTP server (aiosmtpd on a free port) and two nodes sharing a store and a bus:
a single-use, short-lived link to an adult with an address; never a mail to a
pupil; the same answer, in indistinguishable time, whatever the login; limits
per login, per client address and per e-mail address; after a reset every
session and socket of the person is closed, on both nodes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from preau.server.auth import tokens
from preau.server.errors import ErrorCode, PreauError
from tests.server.live import free_port
from tests.server.twonodes import Nodes, two_nodes

NEW_PASSWORD = "Nouveau-Cahier-2026"


@dataclass
class Relay:
    port: int
    mails: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

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


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def now_ms(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _settings(relay: Relay, **more: Any) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": relay.port, "smtp_timeout_s": 10,
            "public_url": "https://ent.college.example", "recovery_answer_ms": 60, **more}


@pytest.fixture
async def nodes(tmp_path: Path, relay: Relay, clock: Clock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock, **_settings(relay)) as pair:  # type: ignore[arg-type]
        yield pair


async def _address(nodes: Nodes, name: str, address: str) -> str:
    member = nodes.member(nodes.a, name)
    await nodes.a.store.set_emails(member.school_id, {member.id: address}, 0)
    person = await nodes.a.directory.person(member.id)
    assert person is not None
    return person.login


def _token(mail: EmailMessage) -> str:
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https://ent\.college\.example/recovery#([A-Za-z0-9_-]+)", text)
    assert found, text
    return found[1]


async def test_an_adult_gets_a_single_use_link_and_every_session_ends(
    nodes: Nodes, relay: Relay
) -> None:
    login = await _address(nodes, "Camille Martin", "camille@famille.example")
    camille = nodes.member(nodes.a, "Camille Martin")
    on_a, _ = nodes.connect(nodes.a, camille)
    on_b, _ = nodes.connect(nodes.b, camille)
    await nodes.a.recovery.request(f"  {login.upper()} ", "10.0.0.1")
    await nodes.a.recovery.settle()
    [mail] = relay.to("camille@famille.example")
    assert str(mail["Subject"]) == "Préau : choisir un nouveau mot de passe"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("Bonjour Camille") < text.index("Someone (you, probably)")  # French first
    token = _token(mail)
    assert await nodes.b.recovery.check(token)
    # The store keeps the token's hash only.
    async with nodes.a.store.engine.transaction(readonly=True) as tx:
        stored = [r["token_hash"] for r in await tx.fetch("SELECT token_hash FROM password_resets")]
    assert stored == [tokens.digest(token)]
    await nodes.b.recovery.reset(token, NEW_PASSWORD, "10.0.0.2")
    # Both nodes' sockets of Camille close (node b revoked, node a hears it on the bus).
    async with asyncio.timeout(5):
        while not (on_a.closed and on_b.closed):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not await nodes.a.auth.alive("session-" + camille.id)
    issued = await nodes.a.auth.login(login, NEW_PASSWORD, "10.0.0.3", "bearer")
    assert issued.session.person_id == camille.id
    # Once only.
    assert not await nodes.a.recovery.check(token)
    with pytest.raises(PreauError) as used:
        await nodes.a.recovery.reset(token, "Encore-Autre-2027", "10.0.0.2")
    assert used.value.code is ErrorCode.INVALID_CREDENTIALS


async def test_the_link_expires_and_a_newer_one_replaces_it(
    nodes: Nodes, relay: Relay, clock: Clock
) -> None:
    login = await _address(nodes, "Claire Lefèvre", "claire@college.example")
    await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    first = _token(relay.to("claire@college.example")[0])
    await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    second = _token(relay.to("claire@college.example")[1])
    assert not await nodes.a.recovery.check(first)  # replaced
    assert await nodes.a.recovery.check(second)
    clock.now += nodes.a.settings.recovery_ttl_s * 1000
    assert not await nodes.a.recovery.check(second)
    with pytest.raises(PreauError) as expired:
        await nodes.a.recovery.reset(second, NEW_PASSWORD, "10.0.0.2")
    assert expired.value.code is ErrorCode.INVALID_CREDENTIALS


async def test_never_a_mail_to_a_pupil_nor_to_nobody(nodes: Nodes, relay: Relay) -> None:
    pupil = await _address(nodes, "Léa Martin", "lea@eleve.example")
    no_address = (await nodes.a.directory.person(nodes.member(nodes.a, "Julien Bernard").id))
    assert no_address is not None
    for login in (pupil, no_address.login, "personne.inconnue"):
        await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    assert relay.mails == []


async def test_a_weak_password_or_a_wrong_link_changes_nothing(
    nodes: Nodes, relay: Relay
) -> None:
    login = await _address(nodes, "Camille Martin", "camille@famille.example")
    await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    token = _token(relay.to("camille@famille.example")[0])
    with pytest.raises(PreauError) as weak:
        await nodes.a.recovery.reset(token, "court", "10.0.0.2")
    assert weak.value.code is ErrorCode.WEAK_PASSWORD
    with pytest.raises(PreauError) as personal:
        await nodes.a.recovery.reset(token, "Camille-Martin-2026!", "10.0.0.2")
    assert personal.value.code is ErrorCode.WEAK_PASSWORD
    for wrong in ("x" * 43, "", "y" * 500):
        with pytest.raises(PreauError) as bad:
            await nodes.a.recovery.reset(wrong, NEW_PASSWORD, "10.0.0.2")
        assert bad.value.code is ErrorCode.INVALID_CREDENTIALS
    assert await nodes.a.recovery.check(token)  # still usable


async def test_limits_per_login_per_address_and_per_mailbox(
    nodes: Nodes, relay: Relay
) -> None:
    login = await _address(nodes, "Camille Martin", "camille@famille.example")
    per_login = nodes.a.settings.recovery_per_login_hour
    for _ in range(per_login):
        await nodes.a.recovery.request(login, "10.0.0.1")
    with pytest.raises(PreauError) as limited:
        await nodes.a.recovery.request(login, "10.0.0.9")
    assert limited.value.code is ErrorCode.RATE_LIMITED
    # An unknown login is limited alike: the limit tells nothing.
    for _ in range(per_login):
        await nodes.a.recovery.request("personne.inconnue", "10.0.0.1")
    with pytest.raises(PreauError) as unknown:
        await nodes.a.recovery.request("personne.inconnue", "10.0.0.9")
    assert unknown.value.code is ErrorCode.RATE_LIMITED
    # Per client address, whatever the logins.
    for n in range(nodes.a.settings.recovery_per_ip_hour - 2 * per_login):
        await nodes.a.recovery.request(f"quelqu.un{n}", "10.0.0.1")
    with pytest.raises(PreauError) as address:
        await nodes.a.recovery.request("encore.un", "10.0.0.1")
    assert address.value.code is ErrorCode.RATE_LIMITED
    await nodes.a.recovery.settle()
    assert len(relay.to("camille@famille.example")) == per_login
    # Requests, made-up logins included, never stand between a person and
    # the link they were mailed: the school's address is spent, her link works.
    token = _token(relay.to("camille@famille.example")[-1])
    await nodes.a.recovery.reset(token, NEW_PASSWORD, "10.0.0.1")
    # Links that lead nowhere are limited per address, apart.
    for n in range(nodes.a.settings.recovery_per_ip_hour):
        with pytest.raises(PreauError) as bad:
            await nodes.a.recovery.reset(f"faux-lien-{n}", NEW_PASSWORD, "10.0.0.1")
        assert bad.value.code is ErrorCode.INVALID_CREDENTIALS
    with pytest.raises(PreauError) as guessing:
        await nodes.a.recovery.reset("faux-lien", NEW_PASSWORD, "10.0.0.1")
    assert guessing.value.code is ErrorCode.RATE_LIMITED


async def test_a_trusted_network_and_an_ipv6_subscriber(
        tmp_path: Path, relay: Relay, clock: Clock) -> None:
    """A school behind one address of a trusted network gets ten times the
    budget (as for failed logins); one IPv6 subscriber's /64 counts as one
    address, not 2^64."""
    async with two_nodes(tmp_path, clock, **_settings(  # type: ignore[arg-type]
            relay, recovery_per_ip_hour=2, login_trusted_networks=("192.0.2.0/24",))) as nodes:
        for n in range(20):
            await nodes.a.recovery.request(f"eleve.{n}", "192.0.2.7")
        with pytest.raises(PreauError) as school:
            await nodes.a.recovery.request("eleve.20", "192.0.2.7")
        assert school.value.code is ErrorCode.RATE_LIMITED
        await nodes.a.recovery.request("un.autre", "2001:db8:1:2::1")
        await nodes.a.recovery.request("un.autre.encore", "2001:db8:1:2::2")
        with pytest.raises(PreauError) as subscriber:
            await nodes.a.recovery.request("et.un.autre", "2001:db8:1:2:ffff::3")
        assert subscriber.value.code is ErrorCode.RATE_LIMITED


async def test_the_mailbox_limit_is_silent(tmp_path: Path, relay: Relay, clock: Clock) -> None:
    async with two_nodes(tmp_path, clock, **_settings(  # type: ignore[arg-type]
            relay, recovery_per_email_hour=1)) as nodes:
        login = await _address(nodes, "Camille Martin", "camille@famille.example")
        await nodes.a.recovery.request(login, "10.0.0.1")
        await nodes.a.recovery.request(login, "10.0.0.2")  # answered as always
        await nodes.a.recovery.settle()
        assert len(relay.to("camille@famille.example")) == 1


def _ks_statistic(x: list[float], y: list[float]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the
    two empirical distribution functions)."""
    points = sorted(set(x) | set(y))
    xs, ys = sorted(x), sorted(y)
    gap = 0.0
    i = j = 0
    for p in points:
        while i < len(xs) and xs[i] <= p:
            i += 1
        while j < len(ys) and ys[j] <= p:
            j += 1
        gap = max(gap, abs(i / len(xs) - j / len(ys)))
    return gap


async def test_the_same_answer_in_indistinguishable_time(
    tmp_path: Path, relay: Relay, clock: Clock
) -> None:
    """Unknown login, pupil, adult without an address, adult who gets a mail:
    the same REST answer byte for byte, and durations no statistical test
    tells apart (two-sample Kolmogorov-Smirnov at the 0.1 % level; the
    samples are interleaved so that the machine's load hits every kind)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Route

    from preau.server.http import recovery_api
    from preau.server.http.middleware import preau_error_handler

    limits = {"recovery_per_login_hour": 1000, "recovery_per_ip_hour": 100_000,
              "recovery_per_email_hour": 1000}
    async with two_nodes(tmp_path, clock, **_settings(relay, **limits)) as nodes:  # type: ignore[arg-type]
        adult = await _address(nodes, "Camille Martin", "camille@famille.example")
        pupil = await _address(nodes, "Léa Martin", "lea@eleve.example")
        bare = await nodes.a.directory.person(nodes.member(nodes.a, "Julien Bernard").id)
        assert bare is not None
        kinds = {"unknown": "personne.inconnue", "pupil": pupil, "no address": bare.login,
                 "mailed": adult}
        app = Starlette(routes=[Route(e.path, e.handler, methods=[e.method])
                                for e in recovery_api.ENDPOINTS],
                        exception_handlers={PreauError: preau_error_handler})
        app.state.services = nodes.a
        durations: dict[str, list[float]] = {k: [] for k in kinds}
        answers: dict[str, set[tuple[int, bytes]]] = {k: set() for k in kinds}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            order = list(kinds.items())
            shuffle = random.Random(1717).shuffle
            for _ in range(30):
                # In a new order each round: whatever a request leaves on the
                # loop for the next one (a mail going out) lands on any kind.
                shuffle(order)
                for kind, login in order:
                    started = time.perf_counter()
                    response = await client.post("/api/auth/recovery", json={"login": login})
                    durations[kind].append(time.perf_counter() - started)
                    answers[kind].add((response.status_code, response.content))
        await nodes.a.recovery.settle()
        assert len(relay.to("camille@famille.example")) == 30
        assert relay.to("lea@eleve.example") == []
        shown = set().union(*answers.values())
        assert shown == {(202, b'{"accepted":true}')}
        n = 30
        critical = 1.95 * math.sqrt(2 * n / (n * n))  # c(0.001) for two samples of n
        reference = durations["unknown"]
        for kind in ("pupil", "no address", "mailed"):
            statistic = _ks_statistic(reference, durations[kind])
            assert statistic < critical, (kind, statistic, critical)


async def test_no_link_where_local_passwords_are_off(nodes: Nodes, relay: Relay) -> None:
    login = await _address(nodes, "Camille Martin", "camille@famille.example")
    await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    token = _token(relay.to("camille@famille.example")[0])
    # Parents now sign in through the academy's portal only (single sign-on).
    for node in (nodes.a, nodes.b):
        node.auth.password_allowed = lambda _uai, profile: profile != "parent"
    await nodes.a.recovery.request(login, "10.0.0.1")
    await nodes.a.recovery.settle()
    assert len(relay.to("camille@famille.example")) == 1  # no second mail
    with pytest.raises(PreauError) as off:
        await nodes.b.recovery.reset(token, NEW_PASSWORD, "10.0.0.2")
    assert off.value.code is ErrorCode.PASSWORD_LOGIN_OFF
