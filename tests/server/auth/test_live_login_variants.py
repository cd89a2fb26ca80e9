"""A login typed any which way is one account for the look-up and the throttle
alike, and a client cannot choose its address with X-Forwarded-For."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.server.live import PASSWORD, LiveServer

pytestmark = pytest.mark.slow

WRONG = "Pas-le-bon-mot-2"
FREE = 3  # failures before delays start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("variants"), {
        "PREAU_LOGIN_FREE_FAILURES": str(FREE), "PREAU_LOGIN_DELAY_S": "30",
        "PREAU_LOGIN_DELAY_MAX_S": "60", "PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR": "40",
        # The test client is not the proxy: its X-Forwarded-For is not believed.
        "PREAU_FORWARDED_ALLOW_IPS": "192.0.2.1",
    }).start()
    try:
        yield live
    finally:
        live.stop()


def variants(login: str) -> list[str]:
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in login)
    return [f" {login}", f"{login} ", f"\t{login}", login.upper(), f"{login}\u200b",
            f"\u00a0{login}\n", full_width, login.title()]


def attempt(server: LiveServer, login: str, password: str,
            headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.base_url + "/api/auth/login", json={
        "login": login, "password": password, "kind": "bearer"}, headers=headers, timeout=10)


@pytest.mark.parametrize("variant", range(8))
def test_every_variant_of_a_login_is_the_same_account(server: LiveServer, variant: int) -> None:
    name = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas", "Manon Robert",
            "Lucas Richard", "Inès Petit", "Louis Durand"][variant]
    login = server.login_of(name)
    httpx.post(server.base_url + "/api/auth/activate", json={
        "login": login, "code": server.accounts[login].code, "password": PASSWORD,
        "kind": "bearer"}, timeout=10).raise_for_status()
    typed = variants(login)[variant]
    # The right password through the variant opens the account…
    assert attempt(server, typed, PASSWORD).status_code == 200
    # …and wrong ones through every variant share one budget: after FREE
    # failures the account waits, whichever spelling comes next.
    answers = [attempt(server, v, WRONG).status_code for v in variants(login)[:FREE + 1]]
    assert answers == [401] * FREE + [429]
    assert attempt(server, typed, PASSWORD).status_code == 429


def test_a_forged_forwarded_address_buys_no_budget(server: LiveServer) -> None:
    codes = []
    for _ in range(60):
        forged = {"x-forwarded-for": f"198.51.100.{secrets.randbelow(250) + 1}"}
        codes.append(attempt(server, f"nobody-{secrets.token_hex(4)}", WRONG, forged).status_code)
    # The address budget (40/h here) holds: the header changed nothing.
    assert 429 in codes
    assert codes.index(429) <= 40
