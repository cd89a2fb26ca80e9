"""Issue 20, "Phone first": in a class room the message box is in view from
the start, the video panel is folded while no call is under way, a
message's secondary actions wait in its "⋯" menu; web addresses in messages
are links (http and https only, opened apart with noopener noreferrer); the
tab's title carries the unread count. At phone size (390×844) and desktop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import message_action, open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_the_class_room_fits_a_phone(people: People, shots: Path, phone: bool) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin", phone=phone)
    open_room(teacher, "6eA")
    for i in range(6):  # enough to fill a phone's screen (each waits: the send rate)
        send(teacher, f"Consigne {i} ({phone}) : lisez la page {10 + i}.\nPuis répondez"
                      " aux questions 1 à 4.\nÀ rendre jeudi.")
        posted = teacher.locator(".msg[data-seq]", has_text=f"Consigne {i} ({phone})")
        expect(posted).to_be_visible()
    send(teacher, f"Le cours ({phone}) : https://example.org/cours?page=2. Et javascript:alert(1)")
    expect(teacher.locator(".msg[data-seq]", has_text=f"Le cours ({phone})")).to_be_visible()

    open_room(pupil, "6eA")
    height = pupil.viewport_size["height"] if pupil.viewport_size else 0
    box = pupil.get_by_label("Votre message")
    expect(box).to_be_visible()
    bounds = box.bounding_box()
    assert bounds is not None
    assert bounds["y"] + bounds["height"] <= height, bounds  # in view without scrolling
    expect(pupil.locator(".msg", has_text=f"Le cours ({phone})")).to_be_in_viewport()

    panel = pupil.locator(".calls-panel")
    if phone:
        expect(panel).not_to_have_attribute("open", "")
        expect(panel.locator("summary")).to_contain_text("Visio · Aucune visio en cours.")
    # No "Signaler" under each message: it waits in the message's menu.
    expect(pupil.get_by_role("button", name=re.compile("^Signaler"))).to_have_count(0)
    teacher_message = pupil.locator(".msg", has_text=f"Consigne 5 ({phone})")
    report = message_action(teacher_message, "Signaler (Claire Lefèvre)")
    expect(report).to_be_visible()
    pupil.screenshot(path=shots / f"room-pupil{'-phone' if phone else ''}.png")

    # A web address is a link, safely; "javascript:" stays text.
    link = pupil.locator(".msg", has_text=f"Le cours ({phone})").get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.org/cours?page=2")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_text("https://example.org/cours?page=2")

    # Unread messages show in the tab's title, gone once read.
    pupil.goto("/")
    send(teacher, f"Nouveau ({phone})")
    expect(pupil).to_have_title(re.compile(r"^\(1\) "))
    open_room(pupil, "6eA")
    expect(pupil).to_have_title("6eA · Préau")
