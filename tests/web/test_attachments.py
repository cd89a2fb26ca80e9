"""Attachments in the browser: a teacher sends a worksheet and a photo to the
class, a pupil sees the thumbnail, enlarges it and downloads both; refusals
are said in French; a parent sends a PDF in a private conversation, dropped
on the page and pasted; the phone's camera is offered through the file input.
A real clamd scans every file (tests/server/attachments/clamd.py)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import FilePayload, Locator, Page, expect

from tests.server.attachments import samples
from tests.server.attachments.clamd import EICAR, private_clamd
from tests.server.live import LiveServer
from tests.web.conftest import People
from tests.web.test_chat import open_room, send

MAX_BYTES = 2 * 1024 * 1024
SERIAL = "SN-48213377"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    """The browser tests' server, with a real clamd and a 2 MB file limit."""
    with private_clamd() as clamd:
        live = LiveServer(tmp_path_factory.mktemp("web-attachments"), env={
            "PREAU_WEB_DIR": str(web_dist), "PREAU_QUIET_HOURS_DEFAULT": "off",
            "PREAU_ATTACHMENT_CLAMD": clamd.unix_address,
            "PREAU_ATTACHMENT_MAX_BYTES": str(MAX_BYTES),
        }).start()
        try:
            yield live
        finally:
            live.stop()


def outing_photo() -> bytes:
    """A 1200 × 800 "photo" (a sky, a lawn, a sun) with GPS coordinates and a
    camera serial in its EXIF."""
    im = Image.new("RGB", (1200, 800), (135, 190, 235))
    im.paste((90, 160, 80), (0, 520, 1200, 800))
    im.paste((250, 210, 60), (900, 100, 1020, 220))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769)[0xA431] = SERIAL
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 21.0, 7.0)})
    out = io.BytesIO()
    im.save(out, format="JPEG", exif=exif, quality=85)
    return out.getvalue()


def attach(page: Page, *files: FilePayload) -> None:
    page.locator("#attach-file").set_input_files(list(files))


def wait_loaded(page: Page, image: Locator) -> None:
    """The image really came (a thumbnail refused by the server would be visible but empty)."""
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())


def tray_item(page: Page, name: str) -> Locator:
    return page.locator(".attach-item", has_text=name)


def test_a_teacher_shares_a_worksheet_and_a_photo_with_the_class(
        people: People, shots: Path, tmp_path: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")

    worksheet = samples.pdf(text=b"Fiche : les fractions, exercices 1 a 4")
    photo = outing_photo()
    attach(teacher,
           {"name": "Fiche fractions.pdf", "mimeType": "application/pdf", "buffer": worksheet},
           {"name": "sortie.jpg", "mimeType": "image/jpeg", "buffer": photo})
    for name in ("Fiche fractions.pdf", "sortie.jpg"):
        expect(teacher.locator(".attach-item", has_text=name)).to_contain_text("Prêt")
    # The photo's thumbnail shows in the tray once the server accepted it.
    expect(teacher.locator(".attach-item", has_text="sortie.jpg").locator("img")).to_be_visible()
    send(teacher, "La fiche pour demain et une photo de la sortie.")
    expect(teacher.locator(".attach-tray .attach-item")).to_have_count(0)

    # The pupil sees the message live: the thumbnail, and a card for the PDF.
    message = pupil.locator(".msg[data-seq]", has_text="photo de la sortie")
    thumbnail = message.locator(".image-card img")
    expect(thumbnail).to_be_visible()
    pupil.wait_for_function("img => img.complete && img.naturalWidth > 0",
                            arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => img.naturalWidth") <= 320
    card = message.locator(".file-card", has_text="Fiche fractions.pdf")
    expect(card).to_contain_text("Document")
    pupil.screenshot(path=shots / "attachments-pupil.png")

    # The lightbox: the full image, closed with Escape.
    message.get_by_role("button", name="Agrandir l'image « sortie.jpg »").click()
    box = pupil.locator("dialog.lightbox")
    expect(box).to_be_visible()
    full = box.locator("img")
    pupil.wait_for_function("img => img.complete && img.naturalWidth > 0",
                            arg=full.element_handle())
    assert full.evaluate("img => img.naturalWidth") == 1200
    pupil.screenshot(path=shots / "attachments-lightbox.png")
    pupil.keyboard.press("Escape")
    expect(box).to_have_count(0)

    # Downloads: the worksheet as sent; the photo without where or with what it was taken.
    with pupil.expect_download() as got:
        card.get_by_role("link", name="Télécharger « Fiche fractions.pdf »").click()
    assert got.value.suggested_filename == "Fiche fractions.pdf"
    assert Path(got.value.path()).read_bytes() == worksheet
    with pupil.expect_download() as got:
        message.get_by_role("link", name="Télécharger « sortie.jpg »").click()
    stored = Path(got.value.path()).read_bytes()
    assert SERIAL.encode() not in stored
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert exif.get_ifd(0x8825) == {}
    assert dict(exif) == {}
    teacher.screenshot(path=shots / "attachments-teacher.png")


def test_refused_files_are_explained_in_french(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    open_room(teacher, "6eA")
    attach(teacher,
           {"name": "devoirs.txt", "mimeType": "text/plain", "buffer": EICAR},
           {"name": "fiche.pdf", "mimeType": "application/pdf", "buffer": samples.ELF},
           {"name": "page.html", "mimeType": "text/html", "buffer": samples.HTML},
           {"name": "film.mp4", "mimeType": "video/mp4", "buffer": b"\x00" * (MAX_BYTES + 10)})
    expect(tray_item(teacher, "devoirs.txt")).to_contain_text(
        "« devoirs.txt » refusé : Fichier refusé : l'antivirus y a trouvé un virus.")
    for name in ("fiche.pdf", "page.html"):
        expect(tray_item(teacher, name)).to_contain_text(
            "Ce type de fichier n'est pas accepté")
    expect(tray_item(teacher, "film.mp4")).to_contain_text(
        "Ce fichier est trop gros pour être envoyé.")
    teacher.screenshot(path=shots / "attachments-refused.png")
    # Nothing refused goes with a message; each refusal is removed by hand.
    teacher.get_by_role("button", name="Retirer « devoirs.txt »").click()
    expect(teacher.locator(".attach-item")).to_have_count(3)


def test_a_parent_sends_a_pdf_in_a_private_conversation(people: People, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    parent = people.login("Camille Martin", phone=True)

    parent.get_by_role("link", name="Nouvelle conversation").first.click()
    parent.get_by_label("Rechercher une personne").fill("Lefèvre")
    parent.get_by_role("button", name="Écrire à Claire Lefèvre").click()
    expect(parent.get_by_role("heading", name="Claire Lefèvre")).to_be_visible()
    parent.locator('[data-conn="open"]').wait_for()

    # On a phone: a camera button, whose input opens the camera.
    expect(parent.get_by_role("button", name="Prendre une photo")).to_be_visible()
    camera = parent.locator("#attach-camera")
    assert camera.get_attribute("accept") == "image/*"
    assert camera.get_attribute("capture") == "environment"

    # A PDF dropped on the conversation, sent without a word.
    note = samples.pdf(text=b"Certificat medical : Lea peut reprendre le sport")
    parent.evaluate("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, { type: "application/pdf" }));
        const zone = document.querySelector(".room-view");
        for (const type of ["dragenter", "dragover", "drop"]) {
            const init = { dataTransfer: data, bubbles: true, cancelable: true };
            zone.dispatchEvent(new DragEvent(type, init));
        }
    }""", ["certificat.pdf", base64.b64encode(note).decode()])
    expect(tray_item(parent, "certificat.pdf")).to_contain_text("Prêt")
    parent.screenshot(path=shots / "attachments-parent-phone.png")
    parent.get_by_role("button", name="Envoyer").click()
    sent = parent.locator(".msg[data-seq]", has_text="certificat.pdf")
    expect(sent.locator(".file-card")).to_be_visible()

    # A screenshot pasted into the message box joins the tray too.
    png = samples.image_bytes("PNG", size=(200, 120))
    parent.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], "image.png", { type: "image/png" }));
        document.querySelector("#compose").dispatchEvent(
            new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }""", base64.b64encode(png).decode())
    pasted = parent.locator(".attach-item", has_text="image-")
    expect(pasted).to_contain_text("Prêt")
    send(parent, "Et la capture d'écran du carnet.")
    expect(parent.locator(".msg[data-seq]", has_text="capture d'écran").locator(".image-card img")
           ).to_be_visible()

    # The teacher gets the PDF in the conversation and downloads it.
    teacher.goto("/")
    teacher.locator(".room-link", has_text="Camille Martin").click()
    card = teacher.locator(".msg[data-seq] .file-card", has_text="certificat.pdf")
    expect(card).to_be_visible()
    with teacher.expect_download() as got:
        card.get_by_role("link", name="Télécharger « certificat.pdf »").click()
    assert Path(got.value.path()).read_bytes() == note


def test_a_held_photo_waits_with_its_message_for_the_teacher(people: People) -> None:
    """Pre-moderation: a pupil's photo is held with the message; the teacher
    sees it in the queue, the class does not until it is published."""
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Inès Petit")
    classmate = people.login("Louis Durand")
    for page in (teacher, pupil, classmate):
        open_room(page, "6eB")
    teacher.get_by_role("button", name="Modération").click()
    teacher.get_by_label("Relecture avant publication").select_option("pupils")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(teacher.get_by_role("status").filter(has_text="Règles enregistrées")).to_be_visible()
    expect(pupil.locator(".notice", has_text="relus par un enseignant")).to_be_visible()

    attach(pupil, {"name": "devoir.jpg", "mimeType": "image/jpeg", "buffer": outing_photo()})
    expect(pupil.locator(".attach-item", has_text="devoir.jpg")).to_contain_text("Prêt")
    send(pupil, "Mon devoir en photo")
    expect(pupil.locator(".msg.pending", has_text="Mon devoir en photo")).to_be_visible()

    held = teacher.locator(".held-item", has_text="Mon devoir en photo")
    wait_loaded(teacher, held.locator(".image-card img"))
    expect(classmate.locator(".msg", has_text="Mon devoir en photo")).to_have_count(0)
    held.get_by_role("button", name="Publier").click()
    posted = classmate.locator(".messages .msg[data-seq]", has_text="Mon devoir en photo")
    wait_loaded(classmate, posted.locator(".image-card img"))


def test_a_blocked_message_gives_its_files_back_with_its_text(people: People) -> None:
    """The word filter refuses the message: "Reprendre le texte" puts the text
    back in the box and its files back in the tray, ready to go again."""
    admin = people.login("Anne Roux")
    pupil = people.login("Chloé Dubois")
    admin.goto("/words")
    admin.get_by_label("Bloqués (le message est refusé)").fill("patate")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Listes enregistrées")).to_be_visible()

    open_room(pupil, "6eA")
    attach(pupil, {"name": "exposé.pdf", "mimeType": "application/pdf",
                   "buffer": samples.pdf(text=b"Expose sur les volcans")})
    expect(tray_item(pupil, "exposé.pdf")).to_contain_text("Prêt")
    send(pupil, "Mon exposé, espèce de patate")
    failed = pupil.locator(".msg.failed", has_text="espèce de patate")
    expect(failed).to_contain_text("mots interdits")
    expect(failed).to_contain_text("exposé.pdf")
    failed.get_by_role("button", name="Reprendre le texte").click()
    expect(tray_item(pupil, "exposé.pdf")).to_contain_text("Prêt")
    box = pupil.get_by_label("Votre message")
    box.fill("Mon exposé sur les volcans")
    box.press("Enter")
    posted = pupil.locator(".msg[data-seq]", has_text="exposé sur les volcans")
    expect(posted.get_by_role("link", name="Télécharger « exposé.pdf »")).to_be_visible()
