"""Error messages in the request's language (preau/server/messages.py): French
unless the request asks for English, on REST and on /ws; never English in a
French answer."""

from __future__ import annotations

import httpx
import orjson
import pytest
import websockets

from preau.server.errors import ErrorCode
from preau.server.messages import GENERIC, language, localise
from tests.server.live import LiveServer


def test_the_language_is_french_unless_english_is_asked_for() -> None:
    assert language(None) == "fr"
    assert language("") == "fr"
    assert language("de-DE,de;q=0.9") == "fr"
    assert language("fr-FR,fr;q=0.9,en;q=0.8") == "fr"
    assert language("en-GB,en;q=0.9,fr;q=0.8") == "en"
    assert language("de,en;q=0.5") == "en"
    assert language("fr;q=0.3,en;q=0.7") == "en"
    assert language("en;q=0") == "fr"
    assert language("en-US", asked="fr") == "fr"
    assert language(None, asked="en") == "en"
    assert language(None, asked="xx") == "fr"


def test_every_code_has_a_french_message_and_unknown_messages_never_stay_english() -> None:
    assert set(GENERIC) == set(ErrorCode)
    for code in ErrorCode:
        assert localise(code, "some english words nobody translated", "fr") == GENERIC[code]
        assert localise(code, "as raised", "en") == "as raised"
    assert localise(ErrorCode.WEAK_PASSWORD,
                    "password refused: too common: avoid well-known words and keyboard sequences",
                    "fr") == ("trop courant : évitez les mots connus et "
                              "les suites de touches du clavier")
    assert localise(ErrorCode.WEAK_PASSWORD, "password refused: something new", "fr") == (
        "trop faible")
    assert localise(ErrorCode.BAD_REQUEST, "request: Value error, quiet hours are 'HH:MM-HH:MM'"
                    " (the delivery window), or 'off'", "fr") == (
        "les heures de remise s'écrivent HH:MM-HH:MM, ou « off »")
    assert localise(ErrorCode.BAD_REQUEST, "room: Field required", "fr") == (
        "champ « room » invalide")
    from preau.server.chat.reactions import REACTIONS
    assert localise(ErrorCode.BAD_REQUEST, f"reaction is one of {', '.join(REACTIONS)}",
                    "fr").startswith("réaction inconnue")


@pytest.mark.slow
async def test_the_server_answers_in_the_language_asked(live: LiveServer) -> None:
    login = live.login_of("Emma Simon")
    body = {"login": login, "code": live.accounts[login].code, "password": "Azerty123!",
            "kind": "bearer"}
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        answers = {}
        for asked in (None, "fr-FR,fr;q=0.9", "en-GB,en;q=0.9"):
            headers = {} if asked is None else {"accept-language": asked}
            response = await http.post("/api/auth/activate", json=body, headers=headers)
            assert response.status_code == 400
            answers[asked] = response.json()["error"]
    assert answers[None] == answers["fr-FR,fr;q=0.9"] == {
        "code": "weak_password", "message": "trop courant : évitez les "
        "mots connus et les suites de touches du clavier"}
    assert answers["en-GB,en;q=0.9"]["message"].startswith("password refused: too common")

    # /ws: the language of the upgrade (?lang= or Accept-Language).
    client = await live.client("Léa Martin")
    try:
        url = "ws" + live.base_url[4:] + "/ws"
        for query, expected in (("", "opération inconnue"), ("?lang=fr", "opération inconnue"),
                                ("?lang=en", "unknown op 'nope'")):
            async with websockets.connect(
                url + query, additional_headers={"authorization": f"Bearer {client.token}"},
            ) as ws:
                orjson.loads(await ws.recv())  # hello
                await ws.send(orjson.dumps({"id": 1, "op": "nope"}).decode())
                answer = orjson.loads(await ws.recv())
                assert answer["error"] == {"code": "unknown_op", "message": expected}
    finally:
        await client.close()
