"""Mon compte (issue 19): "remember this device" at login, the list of my
devices with one logged out from another (its page goes back to the login
form), and changing my password, which logs my other devices out."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.server.live import PASSWORD
from tests.web.conftest import People, activate
from tests.web.test_accessibility import audit

PARENT = "Karim Thomas"
NEW_PASSWORD = "Cartable-Rouge-2027"


def test_a_parent_remembers_a_device_sees_the_others_and_logs_one_out(
    people: People, shots: Path,
) -> None:
    login = activate(people.server, PARENT)
    desk = people.new_page(bypass_csp=True)
    desk.goto("/login")
    desk.get_by_label("Identifiant").fill(login)
    desk.get_by_label("Mot de passe").fill(PASSWORD)
    desk.get_by_label("Se souvenir de cet appareil").check()
    desk.get_by_role("button", name="Se connecter").click()
    expect(desk.get_by_role("heading", name=f"Bonjour {PARENT}")).to_be_visible()
    phone = people.login(PARENT, phone=True)  # a second device, not remembered

    desk.get_by_role("link", name="Mon compte").click()
    expect(desk.get_by_role("heading", name="Mon compte", exact=True)).to_be_visible()
    devices = desk.locator(".device")
    # This browser, the phone, and the program that activated the account.
    expect(devices).to_have_count(3)
    expect(devices.filter(has_text="Programme")).to_have_count(1)
    here = devices.filter(has_text="cet appareil")
    expect(here).to_contain_text("mémorisé jusqu'au")
    assert audit(desk, "account/desktop") == []
    desk.screenshot(path=shots / "account-desktop.png", full_page=True)

    # Log the phone out from the desk: its page is back at the login form.
    other = devices.filter(has_not_text="cet appareil").filter(has_text="Chrome")
    other.get_by_role("button", name="Déconnecter").click()
    expect(desk.locator(".status.ok").last).to_contain_text("est déconnecté")
    expect(devices).to_have_count(2)
    expect(phone.get_by_role("heading", name="Connexion")).to_be_visible()

    # A new password; a wrong current one is said in French first.
    desk.get_by_label("Mot de passe actuel").fill("Pas-le-bon-1234")
    desk.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    desk.get_by_label("Confirmer le mot de passe").fill(NEW_PASSWORD)
    desk.get_by_role("button", name="Changer mon mot de passe").click()
    expect(desk.locator(".status.error")).to_contain_text("incorrect")
    desk.get_by_label("Mot de passe actuel").fill(PASSWORD)
    desk.get_by_role("button", name="Changer mon mot de passe").click()
    expect(desk.locator(".status.ok").first).to_have_text(
        "Mot de passe changé. Vos autres appareils ont été déconnectés.")
    # Back as it was, for the other tests of this server.
    desk.get_by_label("Mot de passe actuel").fill(NEW_PASSWORD)
    desk.get_by_label("Nouveau mot de passe").fill(PASSWORD)
    desk.get_by_label("Confirmer le mot de passe").fill(PASSWORD)
    desk.get_by_role("button", name="Changer mon mot de passe").click()
    expect(desk.locator(".status.ok").first).to_have_text(
        "Mot de passe changé. Vos autres appareils ont été déconnectés.")
    expect(desk.get_by_role("heading", name="Mon compte", exact=True)).to_be_visible()
