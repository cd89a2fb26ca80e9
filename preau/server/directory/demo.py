"""The demo school seeded on the embedded server's first start."""

from __future__ import annotations

DEMO_UAI = "0000001D"
DEMO_NAME = "Collège du Préau (démo)"
DEMO_TIMEZONE = "Europe/Paris"

_PARENT_FIRST_NAMES = ["Camille", "Julien", "Sandrine", "Karim", "Nathalie", "Olivier",
                      "Fatima", "Stéphane", "Isabelle", "Thomas", "Aurélie", "Mehdi"]

_PUPILS = {
    "6eA": ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Nathan Thomas", "Manon Robert",
            "Lucas Richard"],
    "6eB": ["Inès Petit", "Louis Durand", "Jade Leroy", "Gabriel Moreau", "Emma Simon",
            "Adam Laurent"],
    # A kindergarten class (moyenne section): the mood of the day and the
    # simpler screen for the youngest pupils (docs/user-guide.md).
    "MS": ["Zoé Lambert", "Malo Fontaine", "Lina Chevalier"],
}
_LEVELS = {"MS": "maternelle"}


def demo_csv() -> str:
    """Two sixth-form classes of six pupils and a kindergarten class of three
    (its ``niveau``: maternelle), a parent each, four teachers, one admin
    staff member."""
    lines = ["id;profile;last_name;first_name;classes;parent_of;admin;niveau"]
    number = 0
    for class_name, names in _PUPILS.items():
        level = _LEVELS.get(class_name, "")
        for name in names:
            number += 1
            first, last = name.split(" ", 1)
            lines.append(f"E{number:03d};pupil;{last};{first};{class_name};;;{level}")
            parent = _PARENT_FIRST_NAMES[(number - 1) % len(_PARENT_FIRST_NAMES)]
            lines.append(f"P{number:03d};parent;{last};{parent};;E{number:03d};;")
    lines += [
        "T001;teacher;Lefèvre;Claire;6eA|6eB;;;",
        "T002;teacher;Garnier;Julien;6eA;;;",
        "T003;teacher;Faure;Sophie;6eB;;;",
        "T004;teacher;Morel;Élise;MS;;;maternelle",
        "S001;staff;Roux;Anne;;;yes;",
    ]
    return "\n".join(lines) + "\n"
