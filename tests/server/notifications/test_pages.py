"""The pages a mail's links open without logging in (REST handlers of
preau/server/http/notifications_api.py over a node, no server process):
the address confirmation's page is a 404 for a used, expired or unknown
link, as its button's answer; a digest's unsubscribe page and its answer
speak of the digest, and its click stops the kinds that digest carried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from preau.server.errors import PreauError
from preau.server.http import notifications_api
from preau.server.http.middleware import preau_error_handler
from tests.server.notifications.test_email import (
    Clock,
    Relay,
    give_addresses,
    paris_ms,
    relay,
    sender,
)
from tests.server.twonodes import Nodes, two_nodes

__all__ = ["relay"]  # a fixture


@pytest.fixture
def clock() -> Clock:
    return Clock(paris_ms(2027, 1, 13, 10, 0))  # a Wednesday morning


@pytest.fixture
async def nodes(tmp_path: Path, clock: Clock) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path, clock) as pair:  # type: ignore[arg-type]
        yield pair


@pytest.fixture
async def pages(nodes: Nodes, relay: Relay, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """Anonymous requests to node a's notification routes; its mails go to
    the test relay."""
    nodes.a.email = sender(nodes.a, relay, clock, "node-a")
    app = Starlette(routes=[Route(e.path, e.handler, methods=[e.method])
                            for e in notifications_api.ENDPOINTS],
                    exception_handlers={PreauError: preau_error_handler})
    app.state.services = nodes.a
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        yield client


def link_in(mail: object, part: str) -> str:
    text = mail.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    return next(w for w in text.split() if part in w)


async def test_a_confirmation_link_not_valid_is_a_404_page_before_the_button(
    nodes: Nodes, relay: Relay, clock: Clock, pages: httpx.AsyncClient
) -> None:
    camille = nodes.member(nodes.a, "Camille Martin")
    await nodes.a.email.request_change(camille, "camille@nouveau.example")
    [mail] = relay.to("camille@nouveau.example")
    path = link_in(mail, "/api/account/email/confirm/").removeprefix(
        "https://ent.college.example")
    shown = await pages.get(path)
    assert shown.status_code == 200
    assert '<form method="post">' in shown.text
    # Unknown: the page the button gives (no button to press for nothing).
    unknown = "/api/account/email/confirm/" + "x" * 32
    refused = await pages.post(unknown)
    assert refused.status_code == 404
    assert (await pages.get(unknown)).status_code == 404
    assert (await pages.get(unknown)).text == refused.text
    assert (await pages.get("/api/account/email/confirm/" + "x" * 80)).status_code == 404
    # Used.
    assert (await pages.post(path)).status_code == 200
    used = await pages.get(path)
    assert used.status_code == 404
    assert used.text == refused.text
    # Expired.
    clock.now += 61_000
    await nodes.a.email.request_change(camille, "tard@famille.example")
    late = link_in(relay.to("tard@famille.example")[0], "/confirm/").removeprefix(
        "https://ent.college.example")
    clock.now += 86_400_000
    assert (await pages.get(late)).status_code == 404


async def test_a_digests_unsubscribe_page_and_click(
    nodes: Nodes, relay: Relay, clock: Clock, pages: httpx.AsyncClient
) -> None:
    """Camille gets messages and mentions in a daily digest; today's carries
    messages only: its link stops the messages' mails, not the mentions'."""
    a = nodes.a
    await give_addresses(nodes, Camille_Martin="camille@famille.example")
    camille, claire = nodes.member(a, "Camille Martin"), nodes.member(a, "Claire Lefèvre")
    await a.notifications.set_preferences(camille, {"message": "daily", "mention": "daily"})
    room, _ = await a.chat.open_conversation(claire, [camille.id])  # (mailed at once)
    await a.chat.send(claire, room.id, "t1", "Léa a oublié son cahier")
    await a.chat.send(claire, room.id, "t2", "Et sa trousse")
    clock.now = paris_ms(2027, 1, 13, 18, 0)
    assert await a.email.send_due() == 2
    digest = relay.to("camille@famille.example")[-1]
    assert "résumé du jour" in str(digest["Subject"])
    path = str(digest["List-Unsubscribe"]).strip("<>").removeprefix(
        "https://ent.college.example")
    page = await pages.get(path)
    assert page.status_code == 200
    assert "ce résumé" in page.text
    assert "this digest" in page.text
    assert "Stop these digests" in page.text
    assert "cette sorte de notification" not in page.text
    assert "this kind of notification" not in page.text
    # Reading the page changes nothing.
    channels = {k["kind"]: k["channel"] for k in (await a.notifications.preferences(camille))[
        "kinds"]}
    assert (channels["message"], channels["mention"]) == ("daily", "daily")
    done = await pages.post(path)
    assert done.status_code == 200
    assert "C'est fait" in done.text
    assert "ce résumé" in done.text
    assert "this digest" in done.text
    channels = {k["kind"]: k["channel"] for k in (await a.notifications.preferences(camille))[
        "kinds"]}
    assert (channels["message"], channels["mention"]) == ("in_app", "daily")
    # A single mail's link still speaks of its kind; an unknown link: 404.
    single = relay.to("camille@famille.example")[0]
    one = await pages.get(str(single["List-Unsubscribe"]).strip("<>").removeprefix(
        "https://ent.college.example"))
    assert "cette sorte de notification" in one.text
    unknown = await pages.get("/api/notifications/unsubscribe/" + "x" * 32)
    assert unknown.status_code == 404
    assert unknown.text == (await pages.post("/api/notifications/unsubscribe/" + "x" * 32)).text
