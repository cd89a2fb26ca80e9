"""Issue 20, "Nothing fails silently", for calls: on an install without a
video server (SFU) the teacher is told in French, "Mode grande classe" is not
offered, and a person above the mesh's limit is refused in words; the
teacher's "Lancer la visio de la classe" is there on opening a class room by
its address or reloading it. A server of its own with a mesh of 2, so the
limit is reached with three people. Desktop and phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_chat import open_room

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("web-mesh"), env={
        "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
        "PREAU_CALL_MESH_SIZE": "2",
    }).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.mark.parametrize("phone", SIZES)
def test_the_class_call_button_is_there_on_opening_a_room_by_its_address(
    people: People, phone: bool,
) -> None:
    teacher = people.login("Julien Garnier", phone=phone)
    open_room(teacher, "6eA")
    address = teacher.evaluate("location.pathname")
    for _ in range(3):
        for page_load in (lambda: teacher.goto(address), teacher.reload):
            page_load()
            start = teacher.get_by_role("button", name="Lancer la visio de la classe")
            if phone:  # folded to one line on a phone while no call is under way
                expect(start).to_be_hidden()
                teacher.locator(".calls-panel > summary").click()
            expect(start).to_be_visible()
            expect(teacher.locator(".calls")).to_contain_text(
                "Pas de serveur vidéo dans cet établissement : "
                "une visio réunit au plus 2 personnes")


@pytest.mark.parametrize("phone", SIZES)
def test_without_an_sfu_the_call_stays_a_mesh_and_refuses_above_it_in_words(
    people: People, shots: Path, phone: bool,
) -> None:
    teacher = people.login("Claire Lefèvre")
    lea = people.login("Léa Martin")
    hugo = people.login("Hugo Bernard", phone=phone)
    open_room(teacher, "6eA")
    teacher.get_by_role("button", name="Lancer la visio de la classe").click()
    expect(teacher.get_by_role("heading", name="Visio : 6eA")).to_be_visible()
    teacher.get_by_role("button", name="Entrer sans caméra ni micro").click()
    controls = teacher.locator(".call-controls")
    expect(controls).to_contain_text("Pas de serveur vidéo dans cet établissement")
    expect(teacher.get_by_label("Mode grande classe", exact=False)).to_have_count(0)

    open_room(lea, "6eA")
    lea.get_by_role("link", name="Rejoindre la visio 6eA").click()
    lea.get_by_role("button", name="Entrer sans caméra ni micro").click()
    expect(teacher.locator(".call-controls .member", has_text="Léa Martin")).to_be_visible()

    open_room(hugo, "6eA")
    hugo.get_by_role("link", name="Rejoindre la visio 6eA").click()
    hugo.get_by_role("button", name="Entrer sans caméra ni micro").click()
    expect(hugo.locator("p.status")).to_have_text(
        "Cette visio est complète : sans serveur vidéo, elle réunit au plus 2 personnes.")
    hugo.screenshot(path=shots / f"call-full-mesh{'-phone' if phone else ''}.png")
    teacher.get_by_role("button", name="Terminer la visio pour tous").click()
    expect(lea.get_by_text("La visio est terminée.")).to_be_visible()
