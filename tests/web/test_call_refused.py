"""When the browser refuses the camera, the call screen says so in words and
still lets the person join without it. A browser of its own, whose (fake)
permission prompt answers "deny"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.server.live import LiveServer
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, People
from tests.web.test_chat import open_room


@pytest.fixture(scope="module")
def denying_browser(playwright: Playwright) -> Iterator[Browser]:
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*args, "--use-fake-ui-for-media-stream=deny"])
    try:
        yield browser
    finally:
        browser.close()


def test_a_refused_camera_is_explained(
    denying_browser: Browser, server: LiveServer, shots: Path
) -> None:
    crowd = People(denying_browser, server)
    try:
        teacher = crowd.login("Claire Lefèvre")
        open_room(teacher, "6eA")
        teacher.get_by_role("button", name="Lancer la visio de la classe").click()
        refused = teacher.get_by_role("status").filter(
            has_text="Le navigateur refuse l'accès à la caméra ou au micro")
        expect(refused).to_contain_text("(NotAllowedError)")
        teacher.screenshot(path=shots / "call-camera-refused.png")
        teacher.get_by_role("button", name="Entrer sans caméra ni micro").click()
        expect(teacher.get_by_role("heading", name="Contrôles de l'enseignant")).to_be_visible()
        teacher.get_by_role("button", name="Terminer la visio pour tous").click()
        expect(teacher.get_by_text("La visio est terminée.")).to_be_visible()
    finally:
        crowd.close()
    assert crowd.errors == []
