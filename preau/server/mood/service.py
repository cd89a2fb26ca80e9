"""The mood of the day: who may pick, who may see, and the live board.

- A pupil of a class marked kindergarten or primary (``class_levels``) picks
  for themselves, for today in the school's time zone (``rules.py``).
- The class's teachers, and the school's staff, see the class's board
  (counts and who) and each of its pupils' picks.
- A parent sees their own children's picks, nobody else's.
- Anyone else — other pupils, other parents, teachers of other classes,
  other schools — is answered ``not_found``, exactly as for an id that does
  not exist.

Every change is pushed live (``mood.changed``) through the hub to the people
allowed to see it, on every node (``Hub.tell_people``).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from preau.server.clock import Clock
from preau.server.directory.model import Member, Profile
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, forbidden, not_found
from preau.server.live.events import event
from preau.server.live.hub import Hub
from preau.server.mood import rules
from preau.server.store import SchoolView
from preau.server.store.mood import MoodEntry, MoodStore


def _no_class() -> PreauError:
    return not_found("no such class")


def _no_person() -> PreauError:
    return not_found("no such person")


def _entry_wire(entry: MoodEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"day": entry.day, **entry.picks(), "at": entry.updated_ms}


class MoodService:
    def __init__(self, store: MoodStore, directory: Directory, hub: Hub, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._hub = hub
        self._clock = clock

    # -- who may see what -----------------------------------------------------------
    async def _view(self, member: Member) -> SchoolView:
        view = await self._directory.view_of_person(member.id)
        if view is None:
            raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
        return view

    @staticmethod
    def _sees_class(member: Member, view: SchoolView, class_id: str) -> bool:
        """The class's teachers and the school's staff see its board."""
        if class_id not in view.classes or member.school_id != view.school.id:
            return False
        if member.profile is Profile.STAFF:
            return True
        return member.profile is Profile.TEACHER and class_id in member.classes

    def _sees_pupil(self, member: Member, view: SchoolView, pupil: Member) -> bool:
        if pupil.profile is not Profile.PUPIL or pupil.school_id != member.school_id:
            return False
        if member.id == pupil.id or pupil.id in member.children:
            return True
        return any(self._sees_class(member, view, c) for c in pupil.classes)

    def _audience(self, view: SchoolView, pupil: Member, class_id: str) -> set[str]:
        """Everyone allowed to see ``pupil``'s picks in ``class_id``."""
        people = {pupil.id, *pupil.guardians}
        for other in view.members.values():
            if other.profile is Profile.STAFF or (
                other.profile is Profile.TEACHER and class_id in other.classes
            ):
                people.add(other.id)
        return people

    @staticmethod
    def _pupils(view: SchoolView, class_id: str) -> list[Member]:
        found = [m for m in view.members.values()
                 if m.profile is Profile.PUPIL and class_id in m.classes]
        return sorted(found, key=lambda m: (m.display_name.casefold(), m.id))

    @staticmethod
    def _class_wire(view: SchoolView, class_id: str, level: str | None) -> dict[str, Any]:
        return {"id": class_id, "name": view.classes[class_id].name, "level": level}

    # -- reading ------------------------------------------------------------------------
    async def summary(self, member: Member) -> dict[str, Any]:
        """What the caller has to do with the mood of the day: their own picks
        (a pupil of a marked class), the boards they see, their children's picks."""
        view = await self._view(member)
        now = self._clock.now_ms()
        tz = view.school.timezone
        day = rules.school_day(now, tz)
        levels = await self._store.class_levels(view.school.id)
        body: dict[str, Any] = {
            "day": day, "may_change": rules.may_change(now, tz),
            "change_until": rules.change_until_ms(now, tz), "questions": rules.catalogue(),
            "self": None, "boards": [], "children": [],
        }
        if member.profile is Profile.PUPIL:
            marked = sorted(c for c in member.classes if c in levels)
            if marked:
                mine = await self._store.moods_of_day([member.id], day)
                # The class's teachers: whose messages the young pupils' screen reads aloud.
                teachers = sorted(
                    (m for m in view.members.values()
                     if m.profile is Profile.TEACHER and marked[0] in m.classes),
                    key=lambda m: (m.display_name.casefold(), m.id))
                body["self"] = {"class": self._class_wire(view, marked[0], levels[marked[0]]),
                                "entry": _entry_wire(mine[0] if mine else None),
                                "teachers": [{"id": m.id, "name": m.display_name}
                                             for m in teachers]}
        boards = [c for c in levels if self._sees_class(member, view, c)]
        body["boards"] = sorted((self._class_wire(view, c, levels[c]) for c in boards),
                                key=lambda c: str(c["name"]))
        children = [view.members[c] for c in sorted(member.children) if c in view.members]
        entries = {e.person_id: e for e in await self._store.moods_of_day(
            [c.id for c in children], day)}
        for child in children:
            marked = sorted(c for c in child.classes if c in levels)
            if marked:
                body["children"].append({
                    "person": {"id": child.id, "name": child.display_name},
                    "class": self._class_wire(view, marked[0], levels[marked[0]]),
                    "entry": _entry_wire(entries.get(child.id)),
                })
        return body

    async def board(self, member: Member, class_id: str) -> dict[str, Any]:
        """Today's board of a class: counts per picture and each pupil's picks."""
        view = await self._view(member)
        if not self._sees_class(member, view, class_id):
            raise _no_class()
        levels = await self._store.class_levels(view.school.id)
        day = rules.school_day(self._clock.now_ms(), view.school.timezone)
        pupils = self._pupils(view, class_id)
        entries = {e.person_id: e for e in await self._store.moods_of_day(
            [p.id for p in pupils], day)}
        counts: dict[str, Counter[str]] = {q: Counter() for q in rules.QUESTIONS}
        rows = []
        for pupil in pupils:
            entry = entries.get(pupil.id)
            picks = entry.picks() if entry else dict.fromkeys(rules.QUESTIONS)
            for q, v in picks.items():
                if v is not None:
                    counts[q][v] += 1
            rows.append({"person": {"id": pupil.id, "name": pupil.display_name}, **picks})
        return {
            "class": self._class_wire(view, class_id, levels.get(class_id)), "day": day,
            "counts": {q: dict(sorted(c.items())) for q, c in counts.items()},
            "pupils": rows,
        }

    async def of_person(self, member: Member, person_id: str) -> dict[str, Any]:
        """A pupil's picks this school year (themselves, their parents, their
        class's teachers, the school's staff)."""
        view = await self._view(member)
        pupil = view.members.get(person_id)
        if pupil is None or not self._sees_pupil(member, view, pupil):
            raise _no_person()
        today = date.fromisoformat(rules.school_day(self._clock.now_ms(), view.school.timezone))
        first = rules.school_year_start(today).isoformat()
        entries = await self._store.moods_of(pupil.id, first)
        return {"person": {"id": pupil.id, "name": pupil.display_name},
                "entries": [_entry_wire(e) for e in entries]}

    # -- writing ------------------------------------------------------------------------
    async def pick(self, member: Member, picks: dict[str, str]) -> dict[str, Any]:
        """A pupil's picks for today (one or more questions)."""
        if not picks:
            raise bad_request("pick at least one of mood, night, breakfast")
        for question, value in picks.items():
            if question not in rules.QUESTIONS or not rules.is_picture(question, value):
                raise bad_request(f"{question}: no such picture")
        view = await self._view(member)
        levels = await self._store.class_levels(view.school.id)
        marked = sorted(c for c in member.classes if c in levels)
        if member.profile is not Profile.PUPIL or not marked:
            raise forbidden("the mood of the day is for pupils of kindergarten and primary "
                            "classes")
        class_id = marked[0]
        now = self._clock.now_ms()
        tz = view.school.timezone
        day = rules.school_day(now, tz)
        done = await self._store.set_mood(member.id, view.school.id, class_id, day, picks,
                                          rules.may_change(now, tz), now)
        if done is None:
            raise PreauError(ErrorCode.CONFLICT,
                             "after noon, today's pictures stay as they were chosen")
        entry, changed = done
        if changed:
            await self._hub.tell_people(
                self._audience(view, member, class_id),
                event("mood.changed", **{"class": class_id},
                      person={"id": member.id, "name": member.display_name},
                      **(_entry_wire(entry) or {})),
            )
        return {"entry": _entry_wire(entry), "may_change": rules.may_change(now, tz)}

    async def set_level(
        self, member: Member, school_id: str, class_id: str, level: str | None
    ) -> dict[str, Any]:
        """Mark a class kindergarten or primary (``None``: neither); school
        admins, audited."""
        if not member.is_admin or member.school_id != school_id:
            raise forbidden("this is for the school's administrators")
        if level is not None and not rules.is_level(level):
            raise bad_request(f"level is one of {', '.join(rules.LEVELS)}, or null")
        view = await self._view(member)
        if class_id not in view.classes:
            raise _no_class()
        if not await self._store.set_class_level(school_id, class_id, level, member.id,
                                                 self._clock.now_ms()):
            raise _no_class()
        people = [m.id for m in view.members.values() if class_id in m.classes]
        await self._hub.tell_people(
            people, event("mood.level", **{"class": class_id}, level=level))
        return self._class_wire(view, class_id, level)
