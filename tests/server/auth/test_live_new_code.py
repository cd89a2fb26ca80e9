"""A forgotten password or a lost code, handled at school (issue 19): the
school's admins hand anyone of the school a new activation code, a teacher the
pupils they teach; never anyone else (not_found, like no one). The person's
password and sessions end, their sockets close, and the act is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.server.live import PASSWORD, LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("newcode")).start()
    try:
        yield live
    finally:
        live.stop()


async def test_who_may_hand_out_a_new_code_and_what_it_does(server: LiveServer) -> None:
    names = ["Anne Roux", "Claire Lefèvre", "Sophie Faure", "Léa Martin", "Hugo Bernard",
             "Camille Martin", "Élise Morel"]
    async with server.clients(*names) as people:
        ids = {name: (await people[name].me())["person"]["id"] for name in names}

        async def ask(who: str, whom: str) -> httpx.Response:
            response: httpx.Response = await people[who].http.post(
                f"/api/people/{ids[whom]}/activation-code")
            return response

        # Out of reach answers exactly like no one.
        nobody = await people["Claire Lefèvre"].http.post("/api/people/p-nobody/activation-code")
        assert nobody.status_code == 404
        for who, whom in [("Sophie Faure", "Léa Martin"),  # teaches 6eB, not Léa's 6eA
                          ("Claire Lefèvre", "Camille Martin"),  # a parent: the admins
                          ("Élise Morel", "Hugo Bernard"),
                          ("Hugo Bernard", "Léa Martin"), ("Camille Martin", "Léa Martin"),
                          ("Claire Lefèvre", "Claire Lefèvre")]:
            refused = await ask(who, whom)
            assert (refused.status_code, refused.json()) == (nobody.status_code, nobody.json()), (
                who, whom)

        # Léa's teacher: a new code; Léa's password and open socket end.
        socket = await people["Léa Martin"].connect()
        given = await ask("Claire Lefèvre", "Léa Martin")
        assert given.status_code == 200
        assert given.headers["cache-control"] == "no-store"
        body = given.json()
        assert body["login"] == server.login_of("Léa Martin")
        async with asyncio.timeout(10):
            await socket.closed.wait()
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            old = await http.post("/api/auth/login", json={
                "login": body["login"], "password": PASSWORD})
            assert old.status_code == 403
            assert old.json()["error"]["code"] == "activation_required"
            again = await http.post("/api/auth/activate", json={
                "login": body["login"], "code": body["code"], "password": PASSWORD})
            assert again.status_code == 200

        # The admin, for a parent; both acts are in the school's audit log.
        assert (await ask("Anne Roux", "Camille Martin")).status_code == 200
        school = (await people["Anne Roux"].me())["school"]["id"]
        audit = await people["Anne Roux"].get(f"/api/schools/{school}/audit")
        new_codes = [e for e in audit["entries"] if e["action"] == "account.new_code"]
        assert {(e["actor"]["id"], e["target"]["id"]) for e in new_codes} == {
            (ids["Claire Lefèvre"], ids["Léa Martin"]), (ids["Anne Roux"], ids["Camille Martin"])}
