"""Issue 20: the installable app — a web app manifest with icons, a service
worker, a French page when the network is gone — checked by Chromium's own
installability audit; and a dark theme that follows the system setting and
passes the same accessibility audit. Desktop and phone."""

from __future__ import annotations

import struct
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_accessibility import audit
from tests.web.test_chat import open_room

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


def test_the_manifest_and_its_icons(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.get("/manifest.webmanifest")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/manifest+json")
        manifest = response.json()
        assert (manifest["name"], manifest["lang"], manifest["start_url"],
                manifest["display"]) == ("Préau", "fr", "/", "standalone")
        sizes = {}
        for icon in manifest["icons"]:
            got = http.get(icon["src"])
            assert got.status_code == 200, icon
            if icon["type"] == "image/png":
                assert got.content[:8] == b"\x89PNG\r\n\x1a\n"
                width, height = struct.unpack(">II", got.content[16:24])
                sizes[icon["sizes"]] = (width, height)
        assert sizes == {"192x192": (192, 192), "512x512": (512, 512)}
        worker = http.get("/sw.js")
        assert worker.status_code == 200
        assert worker.headers["cache-control"] == "no-cache"
        offline = http.get("/offline.html")
        assert "Vous êtes hors ligne" in offline.text


@pytest.mark.parametrize("phone", SIZES)
def test_installable_and_french_when_offline(
    people: People, shots: Path, phone: bool,
) -> None:
    page = people.login("Léa Martin", phone=phone)
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == people.server.base_url + "/"
    # Chromium's own audit of what makes an app installable.
    session = page.context.new_cdp_session(page)
    errors = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's browser contexts are off the record, where Chromium never
    # offers to install; that is the only objection it may raise.
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
    manifest = session.send("Page.getAppManifest")
    assert manifest["errors"] == []
    session.detach()

    # The network goes: a page load shows the French offline page.
    page.context.set_offline(True)
    page.goto("/")
    expect(page.get_by_role("heading", name="Vous êtes hors ligne")).to_be_visible()
    page.screenshot(path=shots / f"offline{'-phone' if phone else ''}.png")
    page.context.set_offline(False)
    page.get_by_role("link", name="Réessayer").click()
    expect(page.get_by_role("heading", name="Bonjour Léa Martin")).to_be_visible()


@pytest.mark.parametrize("phone", SIZES)
def test_the_dark_theme_follows_the_system_and_passes_the_audit(
    people: People, shots: Path, phone: bool,
) -> None:
    page = people.login("Claire Lefèvre", phone=phone, bypass_csp=True, dark=True)
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(15, 23, 42)"
    problems = audit(page, "home/dark")
    open_room(page, "6eA")
    page.get_by_label("Votre message").fill(f"Bonsoir, en thème sombre ({phone})")
    page.get_by_label("Votre message").press("Enter")
    expect(page.locator(".msg[data-seq]", has_text=f"en thème sombre ({phone})")).to_be_visible()
    page.get_by_role("button", name="Modération").click()
    expect(page.get_by_role("heading", name="Participants")).to_be_visible()
    problems += audit(page, "room/dark")
    page.screenshot(path=shots / f"room-dark{'-phone' if phone else ''}.png")
    page.goto("/reports")
    problems += audit(page, "reports/dark")
    assert problems == [], "\n".join(problems)
