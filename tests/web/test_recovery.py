"""« Mot de passe oublié ? » in Chromium (issue 19) against a real SMTP
server (aiosmtpd): a parent with an address asks for a link from the login
screen, opens it from the mail, chooses a new password; her other device is
logged out at once; the link does not work twice; a pupil, or a login that
does not exist, gets the same words on screen and no mail."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from tests.server.live import PASSWORD, LiveServer, free_port
from tests.web.conftest import People, activate
from tests.web.test_accessibility import audit

PARENT = "Camille Martin"
NEW_PASSWORD = "Trousse-Verte-2027"
SENT = ("Demande enregistrée. Si ce compte a une adresse électronique, un lien y a été envoyé :"
        " il sert une fois, pendant 30 minutes.")


class Inbox:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.mails.append(email.message_from_bytes(  # type: ignore[arg-type]
                envelope.content, policy=email.policy.default))
        return "250 OK"

    def wait_for(self, address: str, timeout: float = 10) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.mails if m["To"] == address]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address}")


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
    live = LiveServer(tmp_path_factory.mktemp("recovery"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
        "PREAU_SMTP_HOST": "127.0.0.1", "PREAU_SMTP_PORT": str(inbox[1]),
        "PREAU_RECOVERY_ANSWER_MS": "100"})
    live.env["PREAU_PUBLIC_URL"] = live.base_url  # the links in the mails come back here
    live.start()
    try:
        yield live
    finally:
        live.stop()


def give_address(server: LiveServer, name: str, address: str) -> None:
    """The school's admin records the address in the console's REST."""
    login = activate(server, "Anne Roux")
    token = httpx.post(server.base_url + "/api/auth/login", json={
        "login": login, "password": PASSWORD, "kind": "bearer"}, timeout=10).json()["token"]
    auth = {"authorization": f"Bearer {token}"}
    me = httpx.get(server.base_url + "/api/me", headers=auth, timeout=10).json()
    school = me["school"]["id"]
    found = httpx.get(f"{server.base_url}/api/schools/{school}/people", params={"q": name},
                      headers=auth, timeout=10).json()["people"]
    person = next(p for p in found if p["name"] == name)
    done = httpx.put(f"{server.base_url}/api/schools/{school}/people/{person['id']}",
                     json={"email": address}, headers=auth, timeout=10)
    assert done.status_code == 200, done.text


def test_a_parent_recovers_her_password_by_e_mail(
    people: People, inbox: tuple[Inbox, int], shots: Path,
) -> None:
    mails, _ = inbox
    give_address(people.server, PARENT, "camille@famille.example")
    elsewhere = people.login(PARENT, phone=True)  # her phone, still logged in

    page = people.new_page(bypass_csp=True)  # the accessibility audit injects axe
    page.goto("/login")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    expect(page.get_by_role("heading", name="Mot de passe oublié ?")).to_be_visible()
    assert audit(page, "forgot") == []
    page.get_by_label("Identifiant").fill(people.server.login_of(PARENT))
    page.get_by_role("button", name="Recevoir un lien").click()
    expect(page.locator(".status.ok")).to_have_text(SENT)
    page.screenshot(path=shots / "recovery-asked.png", full_page=True)

    mail = mails.wait_for("camille@famille.example")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"(http://127\.0\.0\.1:\d+/recovery#[A-Za-z0-9_-]+)", text)
    assert link, text
    page.goto(link[1])
    expect(page.get_by_role("heading", name="Choisir un nouveau mot de passe")).to_be_visible()
    assert audit(page, "recovery") == []
    page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_label("Confirmer le mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.locator(".status.ok")).to_contain_text("Mot de passe enregistré")
    # Her phone is logged out at once; the new password opens the account.
    expect(elsewhere.get_by_role("heading", name="Connexion")).to_be_visible()
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    page.get_by_label("Identifiant").fill(people.server.login_of(PARENT))
    page.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name=f"Bonjour {PARENT}")).to_be_visible()
    # The link works once.
    again = people.new_page()
    again.goto(link[1])
    expect(again.locator(".status.error")).to_have_text(
        "Ce lien n'est pas valable (déjà utilisé ou expiré) : demandez-en un nouveau.")
    assert people.errors == []


def test_a_pupil_gets_the_same_words_and_no_mail(
    people: People, inbox: tuple[Inbox, int],
) -> None:
    mails, _ = inbox
    before = len(mails.mails)
    # (A pupil with an address from an import gets no mail either:
    # tests/server/auth/test_recovery.py; the console refuses to give one.)
    page = people.new_page()
    page.goto("/forgot")
    page.get_by_label("Identifiant").fill(people.server.login_of("Hugo Bernard"))
    page.get_by_role("button", name="Recevoir un lien").click()
    expect(page.locator(".status.ok")).to_have_text(SENT)
    expect(page.get_by_text("demandez un nouveau code d'activation")).to_be_visible()
    page.get_by_label("Identifiant").fill("personne.inconnue")
    page.get_by_role("button", name="Recevoir un lien").click()
    expect(page.locator(".status.ok")).to_have_text(SENT)
    time.sleep(1)
    assert len(mails.mails) == before
