"""Activation letters as PDF (fpdf2; docs/decisions.md, "Activation letters"):
one A4 page per person, in French, with their login, their one-time code,
until when it works, the address of the ENT and the first steps. A family
gets it on paper from the school: the code never travels by e-mail.

Pure: values in, bytes out (no store, no clock). The font is DejaVu Sans
when the system has it (every accented name prints), else the PDF core
Helvetica, whose Latin-1 covers French; a character outside it is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


@dataclass(frozen=True, slots=True)
class Letter:
    name: str  # the person's display name
    profile: str  # in French: élève, parent, enseignant, personnel
    class_name: str  # their class (a pupil), their children's (a parent), or ""
    login: str
    code: str
    expires_ms: int


def _font(pdf: FPDF) -> tuple[str, bool]:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu", True
    return "Helvetica", False


def render_letters(school_name: str, url: str, timezone: str, letters: list[Letter]) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Codes d'activation - {school_name}")
    pdf.set_creator("Préau")
    pdf.set_auto_page_break(auto=True, margin=20)
    family, unicode = _font(pdf)

    def text(value: str) -> str:
        return value if unicode else value.encode("latin-1", "replace").decode("latin-1")

    zone = ZoneInfo(timezone)
    for letter in letters:
        pdf.add_page()
        pdf.set_font(family, "B", 16)
        pdf.multi_cell(0, 9, text(school_name), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 11)
        pdf.multi_cell(0, 6, text("Votre compte sur l'espace numérique de l'établissement (Préau)"),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
        pdf.set_font(family, "B", 13)
        who = letter.name + (f" ({letter.profile}, {letter.class_name})" if letter.class_name
                             else f" ({letter.profile})")
        pdf.multi_cell(0, 8, text(who), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        until = datetime.fromtimestamp(letter.expires_ms / 1000, UTC).astimezone(zone)
        rows = (("Adresse", url), ("Identifiant", letter.login),
                ("Code d'activation", letter.code),
                ("Valable jusqu'au", until.strftime("%d/%m/%Y")))
        for label, value in rows:
            pdf.set_font(family, "", 12)
            pdf.cell(55, 9, text(label + " :"))
            pdf.set_font(family, "B", 14 if label.startswith("Code") else 12)
            pdf.cell(0, 9, text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
        pdf.set_font(family, "B", 12)
        pdf.cell(0, 8, text("Premiers pas"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 11)
        steps = (
            f"1. Ouvrez {url} dans un navigateur (ordinateur, tablette ou téléphone).",
            "2. Choisissez « Première connexion ? Activer mon compte ».",
            "3. Saisissez votre identifiant et le code ci-dessus (majuscules ou minuscules, "
            "avec ou sans tirets).",
            "4. Choisissez votre mot de passe : au moins 8 caractères, avec 3 sortes parmi "
            "minuscules, majuscules, chiffres, symboles. Ne le donnez à personne.",
            "5. Lisez et acceptez la charte d'utilisation de l'établissement.",
        )
        for step in steps:
            pdf.multi_cell(0, 6, text(step), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        pdf.ln(4)
        pdf.set_font(family, "", 10)
        pdf.multi_cell(
            0, 5, text("Ce code ne sert qu'une fois. Code perdu ou expiré, mot de passe oublié : "
                       "demandez-en un nouveau à l'établissement (un élève, à son enseignant). "
                       "Gardez cette lettre en lieu sûr."),
            new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
