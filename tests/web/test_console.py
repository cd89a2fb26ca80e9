"""The admin console in Chromium (issue 19): the school's admin imports a
Windows-1252 CSV with mistakes, reads the French preview (created, moved,
rejected rows with their line and reason), applies it, prints the new
class's activation letters (the PDF holds each new person's code, and a code
from it opens the account), moves a pupil and sees the pupil's rights follow
(the pupil's open room says they no longer have access; their home lists the
new class). Screenshots for docs/user-guide.md."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pypdf
from playwright.sync_api import expect

from tests.server.live import PASSWORD
from tests.web.conftest import People
from tests.web.test_accessibility import audit

ADMIN = "Anne Roux"
PUPIL = "Hugo Bernard"  # 6eA; moved to 6eB by the admin

CSV = (
    "identifiant;profil;nom;prénom;classe;parent_de;admin\r\n"
    "N101;Élève;Hérault;Maëlle;5ème C;;\r\n"
    "N102;élève;Bézier;Noël;5e c;;\r\n"
    "N103;Responsable légal 1;Hérault;Gaëlle;;N101;\r\n"
    "E003;élève;Dubois;Chloé;6e B;;\r\n"  # Chloé changes class: 6eA → 6eB
    "N104;inconnu;Dupré;Zoé;5eC;;\r\n"  # unknown profile
    "N105;élève;;Théo;5eC;;\r\n"  # no last name
    "N106;parent;Rivière;Anaïs;;X999;\r\n"  # unknown child
).encode("cp1252")


def test_an_admin_imports_prints_letters_and_moves_a_pupil(
    people: People, shots: Path, tmp_path: Path,
) -> None:
    pupil = people.login(PUPIL)
    pupil.locator(".room-link", has_text="6eA").first.click()
    expect(pupil.get_by_role("heading", name="6eA")).to_be_visible()

    admin = people.login(ADMIN, bypass_csp=True)  # the accessibility audit injects axe
    admin.get_by_role("link", name="Console").click()
    expect(admin.get_by_role("heading", name="Console d'administration")).to_be_visible()
    expect(admin.locator(".console-classes li")).to_have_count(3)
    # Singular and plural as French says them (one teacher; 0 takes the singular).
    expect(admin.locator('.console-classes li[data-class="MS"]')).to_contain_text(
        "3 élèves, 1 enseignant, 3 élèves à activer")

    # The import: a preview first, in French.
    source = tmp_path / "eleves.csv"
    source.write_bytes(CSV)
    admin.set_input_files("#console-file", str(source))
    admin.get_by_role("button", name="Voir l'aperçu").click()
    preview = admin.locator(".preview")
    # The encoding by the name people know, not Python's ("cp1252").
    expect(preview).to_contain_text("Fichier lu en Windows-1252 ; 1 personne déjà connue.")
    created = admin.locator('[data-preview="created"]')
    expect(created.get_by_role("heading")).to_have_text("Comptes créés (3)")
    expect(created).to_contain_text("Maëlle Hérault (Élève, 5eC)")
    expect(created).to_contain_text("Noël Bézier (Élève, 5eC)")
    expect(admin.locator('[data-preview="moved"]')).to_contain_text("Chloé Dubois : 6eA → 6eB")
    rejected = admin.locator('[data-preview="rejected"] li')
    expect(rejected).to_have_text([
        "ligne 6, colonne « profil » : profil inconnu « inconnu » (élève, parent, enseignant,"
        " personnel)",
        "ligne 7, colonne « nom » : le nom et le prénom sont obligatoires (100 caractères au"
        " plus)",
        "ligne 8, colonne « parent_de » : enfant(s) inconnu(s) : X999",
    ])
    assert audit(admin, "console/preview") == []
    admin.screenshot(path=shots / "console-import-preview.png", full_page=True)
    # Nothing changed yet.
    expect(admin.locator(".console-classes li")).to_have_count(3)
    admin.get_by_role("button", name="Appliquer l'import").click()
    expect(admin.locator(".status.ok").filter(has_text="Import appliqué")).to_have_text(
        "Import appliqué : 3 créés, 1 mis à jour, 0 fermé, 3 lignes refusées.")
    expect(admin.locator(".console-classes li")).to_have_count(4)

    # The new class's activation letters: every new person's code is in them.
    new_class = admin.locator('.console-classes li[data-class="5eC"]')
    expect(new_class).to_contain_text("2 élèves, 0 enseignant, 2 élèves à activer")
    with admin.expect_download() as download:
        new_class.get_by_role("button", name="Lettres d'activation de 5eC").click()
    pdf = pypdf.PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    pages = [page.extract_text() for page in pdf.pages]
    assert len(pages) == 3
    codes = {}
    for name in ("Maëlle Hérault", "Noël Bézier", "Gaëlle Hérault"):
        [text] = [p for p in pages if name in p]
        found = re.search(r"Identifiant : (\S+)\s+Code d'activation : ([A-Z0-9]{4}-[A-Z0-9]{4}-"
                          r"[A-Z0-9]{4})", text)
        assert found, text
        codes[found[1]] = found[2]
        assert re.search(r"Adresse : https?://\S+", text)  # the ENT's (PREAU_PUBLIC_URL)
        assert "Premiers pas" in text
    login, code = next(iter(codes.items()))
    opened = httpx.post(people.server.base_url + "/api/auth/activate", json={
        "login": login, "code": code, "password": PASSWORD, "kind": "bearer"}, timeout=10)
    assert opened.status_code == 200, opened.text

    # Who has not activated yet, and a search.
    admin.get_by_label("Seulement les comptes non activés").check()
    admin.get_by_label("Rechercher").fill("herault")
    rows = admin.locator("table.people tbody tr")
    expect(rows).to_have_count(len(codes) - 2)  # the Hérault not activated yet
    expect(admin.get_by_text("1 personne", exact=True)).to_be_visible()
    admin.get_by_label("Seulement les comptes non activés").uncheck()
    expect(rows).to_have_count(2)
    expect(admin.get_by_text("2 personnes", exact=True)).to_be_visible()
    admin.screenshot(path=shots / "console-people.png", full_page=True)

    # A group, created here, with its room.
    admin.get_by_label("Nouvelle classe ou nouveau groupe").fill("Latin")
    admin.get_by_label("Genre").select_option("group")
    admin.locator(".console-classes + form").get_by_role("button", name="Créer").click()
    expect(admin.locator('.console-classes li[data-class="Latin"]')).to_contain_text("(groupe)")
    # The class list read again: the pupil whose code opened her account is
    # no longer to activate (the first code is Maëlle's).
    expect(new_class).to_contain_text("2 élèves, 0 enseignant, 1 élève à activer")

    # Edit a parent: an e-mail address and a second child.
    admin.get_by_label("Rechercher").fill("Gaëlle")
    parent = admin.locator("table.people tbody tr", has_text="Gaëlle Hérault")
    expect(parent).to_have_count(1)
    parent.get_by_role("button", name="Modifier Gaëlle Hérault").click()
    dialog = admin.get_by_role("dialog")
    dialog.get_by_label("Adresse électronique (vide : aucune)").fill("gaelle@famille.example")
    dialog.get_by_label("Enfants").select_option(
        label=["Maëlle Hérault (5eC)", "Noël Bézier (5eC)"])
    assert audit(admin, "console/edit") == []
    dialog.get_by_role("button", name="Valider").click()
    expect(admin.locator(".status.ok").first).to_have_text(
        "Gaëlle Hérault : modifications enregistrées.")
    expect(parent).to_contain_text("Maëlle Hérault, Noël Bézier")

    # Move a pupil: her open room says she has lost it, her home lists the new class.
    admin.get_by_label("Rechercher").fill(PUPIL)
    row = admin.locator("table.people tbody tr", has_text=PUPIL)
    expect(row).to_have_count(1)
    row.get_by_label(f"Nouvelle classe de {PUPIL}").select_option(label="6eB")
    row.get_by_role("button", name="Changer de classe").click()
    expect(admin.locator(".status.ok").first).to_have_text(f"{PUPIL} est maintenant en 6eB.")
    expect(row.locator("[data-classes]")).to_have_text("6eB")
    expect(pupil.get_by_text("Vous n'avez plus accès à cette salle.")).to_be_visible()
    pupil.get_by_role("link", name="Accueil", exact=True).click()
    expect(pupil.locator(".room-link", has_text="6eB")).to_have_count(1)
    expect(pupil.locator(".room-link", has_text="6eA")).to_have_count(0)

    # In English: the same counts and the same preview, in English words.
    admin.get_by_role("button", name="Switch to English").click()
    expect(admin.get_by_role("heading", name="Admin console")).to_be_visible()
    expect(admin.locator('.console-classes li[data-class="MS"]')).to_contain_text(
        "3 pupils, 1 teacher, 3 pupils to activate")
    expect(new_class).to_contain_text("2 pupils, 0 teachers, 1 pupil to activate")
    admin.set_input_files("#console-file", str(source))
    admin.get_by_role("button", name="Preview").click()
    expect(preview).to_contain_text("File read as Windows-1252; 4 people already known.")
    assert people.errors == []
