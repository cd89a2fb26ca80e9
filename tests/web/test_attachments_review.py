"""Reviewing a reported file in the browser: a teacher reports a parent's
message in their private conversation; the school's admin, who is not in
the conversation, finds its file in the reports queue and downloads it
(``?report=``, docs/attachments.md, "Moderation and data protection"). A
real clamd scans the file (tests/server/attachments/clamd.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.server.attachments import samples
from tests.server.attachments.clamd import private_clamd
from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_chat import message_action, send, write_to


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    with private_clamd() as clamd:
        live = LiveServer(tmp_path_factory.mktemp("web-attachments-review"), env={
            "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
            "PREAU_ATTACHMENT_CLAMD": clamd.unix_address,
        }).start()
        try:
            yield live
        finally:
            live.stop()


def test_the_admin_downloads_a_reported_file(people: People, server: LiveServer) -> None:
    parent = people.login("Camille Martin")
    teacher = people.login("Claire Lefèvre")
    admin = people.login("Anne Roux")

    write_to(parent, "Claire Lefèvre", search="Lefèvre")
    note = samples.pdf(text=b"Un document qui n'a rien a faire ici")
    parent.locator("#attach-file").set_input_files(
        [{"name": "piece.pdf", "mimeType": "application/pdf", "buffer": note}])
    expect(parent.locator(".attach-item", has_text="piece.pdf")).to_contain_text("Prêt")
    send(parent, "Regardez ceci")
    expect(parent.locator(".msg[data-seq]", has_text="Regardez ceci").locator(".file-card")
           ).to_be_visible()

    # The teacher reports it.
    teacher.goto("/")
    teacher.locator(".room-link", has_text="Camille Martin").click()
    message = teacher.locator(".msg[data-seq]", has_text="Regardez ceci")
    expect(message.locator(".file-card")).to_be_visible()
    message_action(message, "Signaler (Camille Martin)").click()
    teacher.get_by_role("dialog").get_by_role("textbox").fill("Document déplacé")
    teacher.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(teacher.get_by_role("status").filter(has_text="Signalement envoyé")).to_be_visible()

    # The admin, outside the conversation, reviews the file from the queue.
    admin.get_by_role("link", name="Signalements").click()
    report = admin.locator(".report", has_text="Document déplacé")
    reported = report.locator(".msg.reported")
    expect(reported).to_contain_text("Regardez ceci")
    link = reported.get_by_role("link", name="Télécharger « piece.pdf »")
    with admin.expect_download() as got:
        link.click()
    assert Path(got.value.path()).read_bytes() == note
    # Without the report, the file is out of her reach, as an unknown one.
    href = link.get_attribute("href")
    assert href is not None
    assert "?report=" in href
    cookies = {c["name"]: c["value"] for c in admin.context.cookies()}
    plain = httpx.get(server.base_url + href.split("?")[0], cookies=cookies, timeout=10)
    unknown = httpx.get(server.base_url + "/api/attachments/a_nothing", cookies=cookies,
                        timeout=10)
    assert plain.status_code == unknown.status_code == 404
    assert plain.content == unknown.content
    # Kept: the review is over, and so is her access.
    report.get_by_role("button", name="Conserver").click()
    expect(admin.locator(".report", has_text="Document déplacé")).to_have_count(0)
    after = httpx.get(server.base_url + href, cookies=cookies, timeout=10)
    assert after.status_code == 404
