"""The school's communication rules as the console shows them (issue 19):
its groups (per profile, school-wide and per class or group) and the
directed links between them, each marked default or not, plus the default
links the school no longer has. Pure functions over a loaded school.

A link (a, b) lets members of group a reach members of group b (messages,
conversations, the directory; preau/server/directory/rules.py); a self-link
(a, a) lets a group's members reach each other. The console changes the
stored links only: the ``parents_may_message`` setting and a guardian's link
with their own children stay outside them.
"""

from __future__ import annotations

from typing import Any

from preau.server.directory.importer import default_links
from preau.server.directory.model import Profile, profile_group
from preau.server.store.records import Link, SchoolView

# Class groups: a class's pupils, its teachers and its pupils' parents
# (staff act school-wide, so "staff of 6eA" has nobody in it).
CLASS_PROFILES = (Profile.PUPIL, Profile.TEACHER, Profile.PARENT)
PROFILE_ORDER = (Profile.STAFF, Profile.TEACHER, Profile.PUPIL, Profile.PARENT)


def groups(view: SchoolView) -> list[dict[str, Any]]:
    """The school's groups: school-wide first, then each class, then each group."""
    school_id = view.school.id
    found: list[dict[str, Any]] = [
        {"id": profile_group(school_id, p), "scope": "school", "scope_id": school_id,
         "scope_name": view.school.name, "profile": p.value}
        for p in PROFILE_ORDER]
    classes = sorted(view.classes.values(), key=lambda c: (c.kind != "class", c.name.casefold()))
    for klass in classes:
        found.extend(
            {"id": profile_group(klass.id, p), "scope": klass.kind, "scope_id": klass.id,
             "scope_name": klass.name, "profile": p.value}
            for p in PROFILE_ORDER if p in CLASS_PROFILES)
    return found


def defaults(view: SchoolView) -> set[Link]:
    return default_links(view.school.id, sorted(view.classes))


def described(view: SchoolView, stored: set[Link]) -> dict[str, Any]:
    """What GET /api/schools/{school}/rules answers."""
    known = groups(view)
    order = {g["id"]: i for i, g in enumerate(known)}
    usual = defaults(view)

    def key(link: Link) -> tuple[int, int]:
        return order[link[0]], order[link[1]]

    shown = sorted((link for link in stored if link[0] in order and link[1] in order), key=key)
    missing = sorted((link for link in usual - stored
                      if link[0] in order and link[1] in order), key=key)
    return {
        "groups": known,
        "links": [{"from": a, "to": b, "default": (a, b) in usual} for a, b in shown],
        "missing_defaults": [{"from": a, "to": b} for a, b in missing],
        "is_default": stored == usual,
        "parents_may_message": view.school.parents_may_message,
    }
