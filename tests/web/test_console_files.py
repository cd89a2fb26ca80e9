"""Several directory files at once in the admin console, in Chromium (issue
19): pupils (Windows-1252), parents (UTF-8, commas) and staff chosen
together, one French preview naming each file and each rejected row's file,
one import applied; the parent of a pupil of the other file is linked."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.server.directory.test_several import PARENTS_CSV, PUPILS_CSV, TEACHERS_CSV
from tests.web.conftest import People

ADMIN = "Anne Roux"


def test_an_admin_imports_pupils_parents_and_staff_files_as_one(
    people: People, shots: Path, tmp_path: Path,
) -> None:
    paths = []
    for name, data in (("eleves.csv", PUPILS_CSV), ("parents.csv", PARENTS_CSV),
                       ("personnels.csv", TEACHERS_CSV)):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    admin = people.login(ADMIN)
    admin.get_by_role("link", name="Console").click()
    expect(admin.locator(".console-classes li")).to_have_count(3)
    admin.get_by_label("Fichier(s)").set_input_files(paths)
    admin.get_by_role("button", name="Voir l'aperçu").click()
    preview = admin.locator(".preview")
    expect(preview).to_contain_text(
        "3 fichiers lus ensemble, comme un seul import ; 0 personne déjà connue.")
    expect(admin.locator('[data-preview="files"] li')).to_have_text([
        "eleves.csv (CSV, Windows-1252) : 2 personnes",
        "parents.csv (CSV, UTF-8) : 2 personnes",
        "personnels.csv (CSV, UTF-8) : 2 personnes",  # with a byte-order mark
    ])
    expect(admin.locator('[data-preview="created"]').get_by_role("heading")).to_have_text(
        "Comptes créés (5)")
    expect(admin.locator('[data-preview="rejected"] li')).to_have_text([
        "eleves.csv, ligne 4, colonne « nom » : le nom et le prénom sont obligatoires (100"
        " caractères au plus)",
        "parents.csv, ligne 3, colonne « parent_de » : enfant(s) inconnu(s) : X9",
        "parents.csv, ligne 4, colonne « identifiant » : l'identifiant N2 est déjà dans eleves.csv",
    ])
    admin.locator("form", has=admin.get_by_role("heading", name="Importer l'annuaire")).screenshot(
        path=shots / "console-import-files.png")
    admin.get_by_role("button", name="Appliquer l'import").click()
    expect(admin.locator(".status.ok").filter(has_text="Import appliqué")).to_have_text(
        "Import appliqué : 5 créés, 0 mis à jour, 0 fermé, 3 lignes refusées.")
    expect(admin.locator('.console-classes li[data-class="5eC"]')).to_contain_text(
        "2 élèves, 1 enseignant,")
    admin.get_by_label("Rechercher").fill("Gaëlle")
    parent = admin.get_by_role("row", name="Gaëlle Hérault Parent")
    expect(parent).to_contain_text("Maëlle Hérault")

    # The same files again, in English: each file's encoding by its usual name.
    admin.get_by_role("button", name="Switch to English").click()
    admin.get_by_label("File(s)").set_input_files(paths)
    admin.get_by_role("button", name="Preview").click()
    expect(admin.locator(".preview")).to_contain_text(
        "3 files read together, as one import; 5 people already known.")
    expect(admin.locator('[data-preview="files"] li')).to_have_text([
        "eleves.csv (CSV, Windows-1252): 2 people",
        "parents.csv (CSV, UTF-8): 2 people",
        "personnels.csv (CSV, UTF-8): 2 people",
    ])
    # Back to French before applying: the preview is drawn again in French,
    # and "apply" still has the files (a file input cannot be given them back).
    admin.get_by_role("button", name="Passer en français").click()
    expect(admin.locator(".preview")).to_contain_text(
        "3 fichiers lus ensemble, comme un seul import ; 5 personnes déjà connues.")
    admin.get_by_role("button", name="Appliquer l'import").click()
    expect(admin.locator(".status.ok").filter(has_text="Import appliqué")).to_contain_text(
        "Import appliqué : 0 créé, 5 mis à jour")
    assert people.errors == []
