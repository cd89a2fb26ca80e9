"""A parent changes her notification address in « Mon compte »: a
confirmation link goes to the new address (a real SMTP server here), the
address changes only when the link is followed (a page with one button),
once; a malformed address is refused in French. Pupils have no such card."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from tests.server.live import LiveServer, free_port
from tests.web.conftest import People
from tests.web.test_accessibility import audit


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.mails.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default))
            self.arrived.notify_all()
        return "250 OK"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    found, port = Inbox(), free_port()
    controller = Controller(found, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield found, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path,
           inbox: tuple[Inbox, int]) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("web-email"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
        "PREAU_SMTP_HOST": "127.0.0.1", "PREAU_SMTP_PORT": str(inbox[1]),
    }).start()
    try:
        yield live
    finally:
        live.stop()


def test_a_parent_changes_her_address(people: People, server: LiveServer, shots: Path,
                                      inbox: tuple[Inbox, int]) -> None:
    mails, _ = inbox
    page = people.login("Camille Martin", bypass_csp=True)
    page.get_by_role("link", name="Mon compte").click()
    card = page.locator("form", has=page.get_by_role("heading",
                                                     name="Adresse pour les notifications"))
    expect(card.get_by_text("Aucune adresse : Préau ne vous envoie pas de courriel.")) \
        .to_be_visible()
    field = card.get_by_label("Nouvelle adresse électronique")
    field.fill("camille@a..b")
    page.evaluate("document.getElementById('new-email').type = 'text'")  # past the browser's check
    card.get_by_role("button", name="Envoyer le lien de confirmation").click()
    expect(card.get_by_role("status")).to_have_text(
        "Demande invalide : adresse électronique invalide")
    field.fill("camille.martin@famille.example")
    card.get_by_role("button", name="Envoyer le lien de confirmation").click()
    expect(card.get_by_text("Lien envoyé")).to_be_visible()
    expect(card.get_by_text(re.compile("Un lien de confirmation a été envoyé à "
                                       "camille.martin@famille.example"))).to_be_visible()
    assert audit(page, "account/email") == []
    page.screenshot(path=shots / "account-email.png")

    with mails.arrived:
        assert mails.arrived.wait_for(lambda: len(mails.mails) >= 1, 20)
    [mail] = mails.mails
    assert mail["To"] == "camille.martin@famille.example"
    text = mail.get_body(("plain",)).get_content()
    link = next(w for w in text.split() if "/api/account/email/confirm/" in w)
    path = link[link.index("/api/"):]
    with httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        shown = anonymous.get(path)  # a link checker confirms nothing
        assert '<form method="post">' in shown.text
        assert "Confirmer cette adresse" in shown.text
        done = anonymous.post(path)
        assert done.status_code == 200
        assert "C'est fait" in done.text
        assert anonymous.post(path).status_code == 404  # once
    page.reload()
    expect(page.get_by_text("Les courriels de Préau arrivent à : "
                            "camille.martin@famille.example")).to_be_visible()

    pupil = people.login("Léa Martin")
    pupil.get_by_role("link", name="Mon compte").click()
    expect(pupil.get_by_role("heading", name="Mon compte", exact=True)).to_be_visible()
    expect(pupil.get_by_role("heading", name="Adresse pour les notifications")).to_have_count(0)
