"""Live events redraw the header, the home page and the notification panel in
place: the link under a finger or the keyboard's focus is never replaced.

Replacing an element between a press and its release loses the click (the
press and the release land on different elements); replacing it under the
keyboard's focus throws the focus back to the page's top. Both happened on
the home page each time presence, an unread count or a call changed: a CI
run clicked "6eB" just as its pupil came online, and stayed on the home page.
So the test keeps handles on the elements before the events and checks that
the very same elements are still in the page after them."""

from __future__ import annotations

from playwright.sync_api import ElementHandle, Page, expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send, write_to


def still_there(handle: ElementHandle) -> bool:
    return bool(handle.evaluate("(el) => el.isConnected"))


def focused_text(page: Page) -> str:
    return str(page.evaluate("document.activeElement?.textContent ?? ''"))


def test_live_events_leave_what_is_clicked_in_place(people: People) -> None:
    teacher = people.login("Claire Lefèvre")
    room_link = teacher.locator(".room-link", has_text="6eA").first
    expect(room_link).to_be_visible()
    link = room_link.element_handle()
    nav_home = teacher.get_by_role("link", name="Accueil").element_handle()
    logout = teacher.get_by_role("button", name="Se déconnecter").element_handle()
    bell = teacher.get_by_role("button", name="Notifications", exact=True).element_handle()
    link.focus()

    # A pupil comes online and writes in the class: presence and unread
    # count change on the teacher's home page.
    pupil = people.login("Léa Martin")
    open_room(pupil, "6eA")
    item = teacher.locator(".room-item", has=room_link)
    expect(item.locator(".online")).to_contain_text("Léa Martin")
    send(pupil, "Bonjour Madame")
    expect(room_link.locator(".badge")).to_have_text("1")
    send(pupil, "Et bonne journée")
    expect(room_link.locator(".badge")).to_have_text("2")
    for handle in (link, nav_home, logout, bell):
        assert still_there(handle)
    assert "6eA" in focused_text(teacher)
    # The focused link still does its job from the keyboard.
    teacher.keyboard.press("Enter")
    expect(teacher.get_by_role("heading", name="6eA", exact=True)).to_be_visible()

    # The notification panel: a new notice adds a line and leaves the others.
    parent = people.login("Camille Martin")
    write_to(teacher, "Camille Martin")
    send(teacher, "Léa a oublié son cahier.")
    expect(teacher.locator(".msg[data-seq]", has_text="oublié son cahier")).to_be_visible()
    parent.get_by_role("button", name="Notifications 2 non lues").click()
    panel = parent.get_by_role("region", name="Notifications")
    items = panel.get_by_role("listitem")
    expect(items).to_have_count(2)
    first = items.last.get_by_role("link").element_handle()
    mark_all = panel.get_by_role("button", name="Tout marquer comme lu").element_handle()
    send(teacher, "Pouvez-vous me rappeler ?")
    expect(items).to_have_count(3)
    assert still_there(first)
    assert still_there(mark_all)
    # And a click on an older line still opens the conversation.
    first.click()
    expect(parent.locator(".msg", has_text="oublié son cahier")).to_be_visible()
