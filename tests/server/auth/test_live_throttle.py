"""The login throttle end to end: real ``preau serve`` processes on free ports.

Every client here connects from 127.0.0.1: one address, as a whole school
behind its NAT. Two schools are imported with ``preau import`` (30 pupils and
an admin in the first, an admin in the second).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.live import PASSWORD, ROOT, LiveServer

WRONG = "Pas-le-bon-mot-2"


@dataclass
class School:
    uai: str
    codes: dict[str, str]  # login → activation code
    pupils: list[str]  # logins
    admin: str


def _import(data_dir: Path, env: dict[str, str], uai: str, name: str, rows: list[str]) -> School:
    csv = data_dir / f"{uai}.csv"
    csv.write_text("id;profile;last_name;first_name;classes;parent_of;admin\n"
                   + "\n".join(rows) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", str(csv), "--school", uai,
         "--name", name],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )
    codes: dict[str, str] = {}
    profiles: dict[str, str] = {}
    for line in done.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\S+)\s+(\S{4}-\S{4}-\S{4})\s+", line)
        if m:
            codes[m[1]], profiles[m[1]] = m[3], m[2]
    pupils = sorted(login for login, p in profiles.items() if p == "pupil")
    admin = next(login for login, p in profiles.items() if p == "staff")
    return School(uai, codes, pupils, admin)


@dataclass
class World:
    server: LiveServer
    a: School
    b: School


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("throttle")
    env = {"PREAU_DATA_DIR": str(data_dir), "PREAU_SEED_DEMO": "false"}
    rows = [f"E{i:02d};pupil;Élève{i:02d};Camille;6eA;;" for i in range(30)]
    a = _import(data_dir, env, "0751111A", "Collège A", [*rows, "S1;staff;Roux;Anne;;;yes"])
    b = _import(data_dir, env, "0752222B", "Collège B",
                ["E1;pupil;Autre;Jules;5eC;;", "S1;staff;Blanc;Marc;;;yes"])
    # The imported people have not accepted the charter of use: the admin view
    # would answer charter_required, which is not what these tests are about.
    server = LiveServer(data_dir, {**env, "PREAU_CHARTER_REQUIRED": "false"}).start()
    try:
        yield World(server, a, b)
    finally:
        server.stop()


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(path, json={**body, "kind": "bearer"})


async def _activate(http: httpx.AsyncClient, school: School, login: str) -> str:
    response = await _post(http, "/api/auth/activate",
                           {"login": login, "code": school.codes[login], "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def _school_id(http: httpx.AsyncClient, token: str) -> str:
    me = await http.get("/api/me", headers={"authorization": f"Bearer {token}"})
    school_id: str = me.json()["school"]["id"]
    return school_id


async def test_a_class_mistyping_at_8am_does_not_lock_the_school_out(world: World) -> None:
    pupils = world.a.pupils
    assert len(pupils) == 30
    clumsy = set(pupils[::3])  # a third of them

    async def morning(http: httpx.AsyncClient, login: str) -> int:
        # First day: the code from the letter, mistyped twice by some.
        if login in clumsy:
            for _ in range(2):
                wrong = await _post(http, "/api/auth/activate",
                                    {"login": login, "code": "AAAA-BBBB-CCCC",
                                     "password": PASSWORD})
                assert wrong.status_code == 401, wrong.text
        await _activate(http, world.a, login)
        # Then the password, mistyped twice by the same ones (four failures
        # each: still under an account's free ones).
        if login in clumsy:
            for _ in range(2):
                wrong = await _post(http, "/api/auth/login", {"login": login, "password": WRONG})
                assert wrong.json()["error"]["code"] == "invalid_credentials"
        right = await _post(http, "/api/auth/login", {"login": login, "password": PASSWORD})
        return right.status_code

    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=30) as http:
        # 40 failures from one address, all at once: the old throttle locked
        # everyone behind it out after 20.
        statuses = await asyncio.gather(*(morning(http, login) for login in pupils))
    assert statuses == [200] * 30


async def test_unknown_and_wrong_answer_alike(world: World) -> None:
    # (A closed account too: tests/server/auth/test_service.py.)
    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=30) as http:
        login = world.a.pupils[2]  # not one of the clumsy third
        wrong = await _post(http, "/api/auth/login", {"login": login, "password": WRONG})
        unknown = await _post(http, "/api/auth/login",
                              {"login": "personne.inconnue", "password": WRONG})
        assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json()) == (
            401, {"error": {"code": "invalid_credentials",
                            "message": "identifiant ou mot de passe incorrect"}}
        )
        right = await _post(http, "/api/auth/login", {"login": login, "password": PASSWORD})
        assert right.status_code == 200


async def test_admins_see_and_clear_their_own_school_only(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=30) as http:
        admin_a = {"authorization": f"Bearer {await _activate(http, world.a, world.a.admin)}"}
        admin_b = {"authorization": f"Bearer {await _activate(http, world.b, world.b.admin)}"}
        school_a = await _school_id(http, admin_a["authorization"][7:])
        school_b = await _school_id(http, admin_b["authorization"][7:])
        target = world.a.pupils[1]
        pupil = await _post(http, "/api/auth/login", {"login": target, "password": PASSWORD})
        pupil_token = pupil.json()["token"]
        target_id = pupil.json()["person"]["id"]

        # Someone guesses the pupil's password until the account is delayed.
        for _ in range(12):
            guess = await _post(http, "/api/auth/login", {"login": target, "password": WRONG})
            if guess.status_code == 429:
                break
        assert guess.status_code == 429
        body = guess.json()["error"]
        assert body["code"] == "rate_limited"
        assert 0 < body["retry_after"] <= 60
        assert 1 <= int(guess.headers["retry-after"]) <= 60

        listed = await http.get(f"/api/schools/{school_a}/login-throttle", headers=admin_a)
        assert listed.status_code == 200, listed.text
        entry = next(e for e in listed.json()["accounts"] if e["person"]["id"] == target_id)
        assert entry["login"] == target
        assert entry["failures"] >= 5
        assert entry["delayed_until"] is not None

        # The other school's admin: refused, and cannot tell a pupil of A from no one.
        other = await http.get(f"/api/schools/{school_a}/login-throttle", headers=admin_b)
        assert other.status_code == 403
        own_b = await http.get(f"/api/schools/{school_b}/login-throttle", headers=admin_b)
        assert own_b.status_code == 200
        assert all(e["person"]["id"] != target_id for e in own_b.json()["accounts"])
        cross = await http.post(f"/api/schools/{school_b}/login-throttle/{target_id}/clear",
                                headers=admin_b)
        nobody = await http.post(f"/api/schools/{school_b}/login-throttle/nobody-at-all/clear",
                                 headers=admin_b)
        assert (cross.status_code, cross.json()) == (nobody.status_code, nobody.json())
        assert cross.status_code == 404
        # Nor may a pupil look.
        pupil_view = await http.get(f"/api/schools/{school_a}/login-throttle",
                                    headers={"authorization": f"Bearer {pupil_token}"})
        assert pupil_view.status_code == 403

        # The admin clears the delay: the pupil gets in at once.
        cleared = await http.post(f"/api/schools/{school_a}/login-throttle/{target_id}/clear",
                                  headers=admin_a)
        assert cleared.json() == {"cleared": True}
        again = await _post(http, "/api/auth/login", {"login": target, "password": PASSWORD})
        assert again.status_code == 200, again.text


async def test_a_script_spending_the_schools_budget_locks_no_browser_out_of_its_account(
    tmp_path: Path,
) -> None:
    """One pupil's script of made-up logins spends the address's budget (the
    whole school behind its NAT). Browsers that logged in to an account before
    keep their device cookie (HttpOnly, /api/auth only, kept after logout) and
    get in to that account; a new browser, or another account, waits."""
    env = {"PREAU_DATA_DIR": str(tmp_path), "PREAU_SEED_DEMO": "false"}
    school = _import(tmp_path, env, "0753333C", "Collège C",
                     ["E1;pupil;Un;Léo;6eB;;", "E2;pupil;Deux;Zoé;6eB;;",
                      "S1;staff;Roux;Anne;;;yes"])
    server = LiveServer(tmp_path, {**env, "PREAU_CHARTER_REQUIRED": "false",
                                   "PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR": "8"}).start()
    leo, zoe = school.pupils
    try:
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as leo_browser,
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as zoe_browser,
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as new_browser,
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as script,
        ):
            first = await leo_browser.post("/api/auth/activate", json={
                "login": leo, "code": school.codes[leo], "password": PASSWORD})
            assert first.status_code == 200, first.text
            cookie = next(h for h in first.headers.get_list("set-cookie")
                          if h.startswith("preau_device="))
            assert "HttpOnly" in cookie
            assert "Path=/api/auth" in cookie
            assert "SameSite=strict" in cookie
            assert leo not in cookie
            out = await leo_browser.post("/api/auth/logout")
            assert out.status_code == 200, out.text
            assert "preau_device" in leo_browser.cookies  # kept after logout
            await _activate(zoe_browser, school, zoe)

            # 8, and one for each of the two accounts that logged in from here.
            for i in range(8 + 2):
                guess = await _post(script, "/api/auth/login",
                                    {"login": f"inconnu.{i}", "password": WRONG})
                assert guess.status_code == 401, guess.text
            spent = await _post(script, "/api/auth/login", {"login": leo, "password": PASSWORD})
            assert spent.status_code == 429, spent.text

            back = await leo_browser.post("/api/auth/login",
                                          json={"login": leo, "password": PASSWORD})
            assert back.status_code == 200, back.text
            assert (await zoe_browser.post("/api/auth/login", json={
                "login": zoe, "password": PASSWORD})).status_code == 200
            # No proof here, or not for this account: the address's answer.
            for browser, login in ((new_browser, leo), (leo_browser, zoe)):
                refused = await browser.post("/api/auth/login",
                                             json={"login": login, "password": PASSWORD})
                assert refused.status_code == 429, (login, refused.text)
    finally:
        server.stop()
