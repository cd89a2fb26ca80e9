"""A moderator's queue of held messages longer than one page (100)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_chat import open_room, premoderate_pupils, send

WAITING_BEFORE = 100  # held before the pupil's message: one page of the queue


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    # A moderator going through a long queue clicks faster than a person
    # chats: room for it in the per-connection rate of requests.
    live = LiveServer(tmp_path_factory.mktemp("web"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_OPS_PER_S": "200", "PREAU_OPS_BURST": "400",
    }).start()
    try:
        yield live
    finally:
        live.stop()


def _hold_before(server: LiveServer, body: str, count: int) -> None:
    """``count`` pending messages of the same author, held before ``body`` (as
    a morning of a pre-moderated class leaves them), written in the store."""
    with sqlite3.connect(server.data_dir / "preau.db", timeout=10) as db:
        room, sender, created = db.execute(
            "SELECT room_id, sender_id, created_ms FROM held_messages WHERE body = ?",
            (body,)).fetchone()
        db.executemany(
            "INSERT INTO held_messages (id, room_id, sender_id, txn, body, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(f"h_earlier_{i}", room, sender, f"earlier-{i}", f"Message d'avant n° {i}",
              created - 60_000 + i) for i in range(count)])


def test_the_queue_goes_on_past_its_first_page(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    pupil = people.login("Hugo Bernard")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")
    premoderate_pupils(teacher, pupil)
    send(pupil, "Le dernier arrivé")
    expect(teacher.locator(".held-item", has_text="Le dernier arrivé")).to_be_visible()

    _hold_before(people.server, "Le dernier arrivé", WAITING_BEFORE)
    teacher.reload()  # the room's address: the room opens again, with its queue
    expect(teacher.get_by_role("heading", name="6eA", exact=True)).to_be_visible()
    teacher.locator('[data-conn="open"]').wait_for()
    if not teacher.locator(".held").is_visible():
        teacher.get_by_role("button", name="Modération").click()
    items = teacher.locator(".held-item")
    expect(items).to_have_count(WAITING_BEFORE)  # the oldest page
    expect(items.filter(has_text="Le dernier arrivé")).to_have_count(0)

    for left in range(WAITING_BEFORE - 1, -1, -1):
        items.first.get_by_role("button", name="Publier").click()
        if left:
            expect(items).to_have_count(left)
    # The page decided, the queue asks for what waits behind it.
    last = teacher.locator(".held-item", has_text="Le dernier arrivé")
    expect(last).to_be_visible()
    teacher.screenshot(path=shots / "moderation-queue-next-page.png")
    last.get_by_role("button", name="Publier").click()
    expect(pupil.locator(".messages .msg[data-seq]", has_text="Le dernier arrivé")
           ).to_have_count(1)
    expect(items).to_have_count(0)
