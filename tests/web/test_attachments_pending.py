"""Attachments while the antivirus is down: held as pending (never shown as
clean), said so in the composer and in the message, then released live once
clamd answers — or taken out of the message if it finds a virus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.server.attachments import samples
from tests.server.attachments.clamd import EICAR, ClamdServer, private_clamd
from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_chat import open_room, send


@pytest.fixture(scope="module")
def clamd() -> Iterator[ClamdServer]:
    with private_clamd(start=False) as server:  # down until a test starts it
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path,
           clamd: ClamdServer) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("web-pending"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
        "PREAU_ATTACHMENT_CLAMD": clamd.unix_address,
        "PREAU_ATTACHMENT_RESCAN_S": "0.5",  # the pending-scan loop, often
    }).start()
    try:
        yield live
    finally:
        live.stop()


def test_files_wait_for_the_antivirus_then_appear_live(
        people: People, clamd: ClamdServer, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")

    worksheet = samples.pdf(text=b"Fiche de lecture")
    teacher.locator("#attach-file").set_input_files([
        {"name": "lecture.pdf", "mimeType": "application/pdf", "buffer": worksheet},
        {"name": "consignes.txt", "mimeType": "text/plain", "buffer": EICAR},
    ])
    for name in ("lecture.pdf", "consignes.txt"):
        expect(teacher.locator(".attach-item", has_text=name)).to_contain_text(
            "Analyse antivirus en cours")
    send(teacher, "La fiche de lecture.")

    # Nobody gets unscanned bytes: the pupil sees that the files are coming.
    message = pupil.locator(".msg[data-seq]", has_text="fiche de lecture")
    expect(message.locator(".file-card.pending")).to_have_count(2)
    expect(message).to_contain_text("« lecture.pdf » : analyse antivirus en cours")
    expect(message.get_by_role("link")).to_have_count(0)
    pupil.screenshot(path=shots / "attachments-pending.png")

    # The antivirus is back: the clean file appears, the infected one goes.
    clamd.start()
    card = message.locator(".file-card", has_text="lecture.pdf")
    expect(card.get_by_role("link", name="Télécharger « lecture.pdf »")).to_be_visible(
        timeout=20_000)
    expect(message.locator(".file-card")).to_have_count(1, timeout=20_000)
    expect(message).not_to_contain_text("consignes.txt")
    with pupil.expect_download() as got:
        card.get_by_role("link", name="Télécharger « lecture.pdf »").click()
    assert Path(got.value.path()).read_bytes() == worksheet
