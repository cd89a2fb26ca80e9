"""Browser tests: Debian's Chromium driven by Playwright against a real server.

One browser for the session; each person is a separate browser context (its
own cookies), so a test with a pupil and a teacher has two "computers". The
server is a real ``preau serve`` process (tests/server/live.py) that serves the
client built from clients/web (built here first if its sources changed).
Screenshots go to ``PREAU_SCREENSHOTS`` (default: a temporary directory).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.server.live import PASSWORD, ROOT, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
WEB = ROOT / "clients" / "web"


def build_client() -> Path:
    """Build clients/web with the same helper as scripts/serve (a no-op when fresh)."""
    script = 'source scripts/bootstrap.sh && bootstrap_node clients/web && build_node clients/web'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building clients/web failed:\n{done.stdout}\n{done.stderr}")
    return WEB / "dist"


@pytest.fixture(scope="session")
def web_dist() -> Path:
    return build_client()


# Module scope, not session: sync Playwright keeps an event loop running in
# this thread, which would break any asyncio test collected after it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need /usr/bin/chromium (scripts/test installs it)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    # No quiet hours by default, so the tests do not depend on the time of
    # day; the quiet-hours test sets a window itself.
    live = LiveServer(tmp_path_factory.mktemp("web"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
    }).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("PREAU_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def activate(server: LiveServer, name: str) -> str:
    """Activate a demo person's account over HTTP (the UI flow has its own test)."""
    login = server.login_of(name)
    if login in server._activated:  # the harness's record of used codes
        return login
    response = httpx.post(server.base_url + "/api/auth/activate", json={
        "login": login, "code": server.accounts[login].code, "password": PASSWORD,
        "kind": "bearer"}, timeout=10)
    assert response.status_code == 200, response.text
    server._activated.add(login)
    return login


class People:
    """Browser contexts, one per person, logged in through the login form."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []  # uncaught exceptions in any page

    def new_page(
        self, *, phone: bool = False, tablet: bool = False, locale: str = "fr-FR",
        bypass_csp: bool = False, dark: bool = False,
    ) -> Page:
        size = ({"width": 390, "height": 844} if phone
                else {"width": 768, "height": 1024} if tablet
                else {"width": 1280, "height": 860})
        touch = phone or tablet
        context = self.browser.new_context(
            base_url=self.server.base_url, viewport=size, locale=locale,
            timezone_id="Europe/Paris",  # the demo school's
            is_mobile=touch, has_touch=touch, bypass_csp=bypass_csp,
            color_scheme="dark" if dark else "light",  # the system's theme
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # A CSP refusal is only a console message: count it as an error too.
        page.on("console", lambda msg: self.errors.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        return page

    def login(self, name: str, **kwargs: bool | str) -> Page:
        login = activate(self.server, name)
        page = self.new_page(**kwargs)  # type: ignore[arg-type]
        page.goto("/")
        page.get_by_label("Identifiant").fill(login)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.get_by_role("heading", name=f"Bonjour {name}").wait_for()
        page.locator('[data-conn="open"]').wait_for()
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(browser: Browser, server: LiveServer) -> Iterator[People]:
    crowd = People(browser, server)
    try:
        yield crowd
    finally:
        crowd.close()
    assert not crowd.errors, f"uncaught errors in the app: {crowd.errors}"
