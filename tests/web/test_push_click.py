"""Clicking a push notification (the service worker's ``notificationclick``):
the app comes forward at the room the notification is about — the open
Préau window, taken there, or a new one when none is open.

The notification is Chromium's own, shown by the app's service worker for a
push that Préau really sent (encrypted for the device, decrypted by the
test's push service as in tests/web/test_push.py), and clicked the way a
person's click reaches Chromium on Linux: the desktop's notification daemon
(``org.freedesktop.Notifications`` on a private session bus,
tests/web/notifydaemon.py) signals the default action. Chromium sends the
notifications of a profile on disk to the daemon, so this browser is a
persistent context of its own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Playwright, expect

from tests.server.live import PASSWORD, LiveServer
from tests.server.notifications.pushservice import Device, PushService
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, People, activate
from tests.web.notifydaemon import NotificationDaemon, notification_daemon
from tests.web.test_chat import send, write_to
from tests.web.test_push import FAKE_PUSH_MANAGER, deliver, pushes, server

__all__ = ["pushes", "server"]  # fixtures: the push service and Préau, as test_push has them


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[NotificationDaemon]:
    with notification_daemon(tmp_path) as daemon:
        yield daemon


@pytest.fixture
def device(playwright: Playwright, server: LiveServer, desktop: NotificationDaemon,
           tmp_path: Path) -> Iterator[BrowserContext]:
    """Camille's own browser: a profile on disk, on the desktop's bus."""
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
        env={"DBUS_SESSION_BUS_ADDRESS": desktop.address, "PATH": "/usr/bin:/bin",
             "HOME": str(tmp_path)},
        base_url=server.base_url, viewport={"width": 1280, "height": 860}, locale="fr-FR",
        timezone_id="Europe/Paris", bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def messages(pushes: PushService, device: Device, count: int) -> list[dict[str, Any]]:
    """The device's pushes for private messages, once there are ``count``."""
    deadline = time.monotonic() + 20
    while True:
        found = [p for p in map(device.decrypt, pushes.to(device.name))
                 if p["body"].startswith("Nouveau message privé")]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} pushes, {count} awaited"
        time.sleep(0.1)


def test_click_opens_the_room(people: People, server: LiveServer, pushes: PushService,
                              desktop: NotificationDaemon, device: BrowserContext) -> None:
    subscription = pushes.device("camille-desktop")
    device.grant_permissions(["notifications"])
    device.add_init_script(FAKE_PUSH_MANAGER % json.dumps(subscription.subscription))
    page = device.pages[0] if device.pages else device.new_page()
    login = activate(server, "Camille Martin")
    page.goto("/")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.locator('[data-conn="open"]').wait_for()
    page.goto("/notifications")
    card = page.locator(".push-card")
    card.get_by_role("button", name="Recevoir les notifications sur cet appareil").click()
    expect(card.get_by_text("Les notifications arrivent sur cet appareil.")).to_be_visible()
    # She goes on elsewhere in the app.
    page.goto("/")
    page.locator('[data-conn="open"]').wait_for()

    # A teacher writes to her; Préau pushes to her device.
    teacher = people.login("Claire Lefèvre")
    write_to(teacher, "Camille Martin")
    send(teacher, "Léa a oublié son cahier de textes.")
    expect(teacher.locator(".msg[data-seq]", has_text="cahier de textes")).to_be_visible()
    room = teacher.evaluate("location.pathname").split("/")[-1]
    [first] = messages(pushes, subscription, 1)
    assert first["url"] == f"/room/{room}"

    # The service worker shows it on the desktop: who and where, not the message.
    deliver(page, server.base_url, json.dumps(first))
    [shown] = desktop.wait_for(1)
    assert shown.summary == "Préau"
    assert shown.body.endswith("Nouveau message privé de Claire Lefèvre")
    assert "cahier" not in shown.body

    # Clicked: the open window comes to the room, and shows the message.
    desktop.click(shown)
    page.wait_for_url(f"{server.base_url}/room/{room}")
    expect(page.locator(".msg[data-seq]", has_text="cahier de textes")).to_be_visible()
    assert [p.url for p in device.pages] == [page.url]  # no second window
    deadline = time.monotonic() + 10
    while shown.id not in desktop.closed:  # the worker closed it
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # No Préau window open: the click opens one, at the room.
    send(teacher, "Pensez à signer le carnet.")
    second = messages(pushes, subscription, 2)[1]
    deliver(page, server.base_url, json.dumps(second))
    shown_second = desktop.wait_for(2)[-1]
    blank = device.new_page()  # the browser stays open, on no Préau page
    page.close()
    with device.expect_page(timeout=10_000) as opened:
        desktop.click(shown_second)
    window = opened.value
    window.wait_for_url(f"{server.base_url}/room/{room}")
    expect(window.locator(".msg[data-seq]", has_text="signer le carnet")).to_be_visible()
    assert blank.url == "about:blank"
