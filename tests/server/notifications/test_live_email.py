"""Notification e-mails from a real server process (the lifespan's sending
loop, PREAU_SMTP_*) to a real SMTP server (aiosmtpd): a private message to a
parent becomes a mail, and its unsubscribe link works over HTTP without
logging in (a page with a button, then one click)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from preau.server.store.factory import open_store
from tests.server.live import LiveServer, free_port

pytestmark = pytest.mark.slow


class Inbox:
    """The SMTP server's handler (it runs in aiosmtpd's own thread)."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            self.mails.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.mails) >= count, timeout)


@pytest.fixture
def inbox_and_server(tmp_path: Path) -> Iterator[tuple[Inbox, LiveServer]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = LiveServer(tmp_path, env={
        "PREAU_SMTP_HOST": "127.0.0.1", "PREAU_SMTP_PORT": str(port),
        "PREAU_EMAIL_EVERY_S": "0.2", "PREAU_PUBLIC_URL": "https://ent.example"})
    try:
        server.start()
        yield inbox, server
    finally:
        server.stop()
        controller.stop()


async def test_a_mail_from_the_server_and_its_unsubscribe_link(
    inbox_and_server: tuple[Inbox, LiveServer], tmp_path: Path
) -> None:
    inbox, server = inbox_and_server
    async with server.clients("Claire Lefèvre", "Camille Martin") as people:
        claire, camille = people["Claire Lefèvre"], people["Camille Martin"]
        camille_id = camille.person["id"]
        school = (await camille.me())["school"]["id"]
        store = await open_store(f"sqlite:///{tmp_path / 'preau.db'}")
        try:
            await store.set_emails(school, {camille_id: "camille@famille.example"}, 0)
        finally:
            await store.close()
        room = (await claire.post("/api/conversations", {"people": [camille_id]}))["room"]
        async with await claire.connect() as conn:
            await conn.send_message(room["id"], "Léa a oublié son cahier")
        assert await asyncio.to_thread(inbox.wait_for, 2, 20)
        mail = next(m for m in inbox.mails if "privé" in str(m["Subject"]))
        assert "cahier" not in mail.as_string()
        link = str(mail["List-Unsubscribe"]).strip("<>")
        path = link.removeprefix("https://ent.example")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as anonymous:
            page = await anonymous.get(path)
            assert page.status_code == 200
            assert '<form method="post">' in page.text
            done = await anonymous.post(path)
            assert done.status_code == 200
            assert "C'est fait" in done.text
            unknown = await anonymous.post("/api/notifications/unsubscribe/" + "x" * 32)
            assert unknown.status_code == 404
        prefs = await camille.get("/api/notifications/preferences")
        assert {k["kind"]: k["channel"] for k in prefs["kinds"]}["message"] == "in_app"
