"""Directory records, as the rest of the server sees them.

These are plain immutable values: the store builds them, the rules read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from preau.server.directory.quiet_hours import DEFAULT_WINDOW


class Profile(StrEnum):
    """A person's profile in the school (Open ENT NG: Student, Relative, Teacher, Personnel)."""

    PUPIL = "pupil"
    TEACHER = "teacher"
    PARENT = "parent"
    STAFF = "staff"


class RoomKind(StrEnum):
    CLASS = "class"
    PARENTS = "parents"  # a class's parents, its teachers and the school's staff
    PRIVATE = "private"  # a conversation: an explicit list of people (docs/conversations.md)


MAX_CONVERSATION_PEOPLE = 8  # the opener included


@dataclass(frozen=True, slots=True)
class School:
    id: str
    uai: str  # the national school code (Unité Administrative Immatriculée)
    name: str
    timezone: str
    # The delivery window for pupils and parents ('HH:MM-HH:MM' or 'off'; quiet_hours.py).
    quiet_hours: str = DEFAULT_WINDOW
    # May parents of a class open conversations with each other (off by default)?
    parents_may_message: bool = False
    # Do parents see when teachers and staff are online? (off, as ENTs do)
    staff_presence_to_parents: bool = False
    # May readers of an announcement room (pupils, parents) react to its
    # messages (docs/protocol.md, "Reactions")? On by default.
    reactions_in_announcements: bool = True
    # The kinds of attachments it accepts (document, image, audio, video);
    # None: the deployment's (PREAU_ATTACHMENT_KINDS), which bounds them anyway.
    attachment_kinds: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class SchoolClass:
    """A division (``kind`` "class": a pupil is in exactly one) or a group
    (``kind`` "group": options, languages; a pupil in any number). Both have
    a room and the same rules (``Member.classes`` holds both)."""

    id: str
    school_id: str
    name: str
    kind: str = "class"


@dataclass(frozen=True, slots=True)
class Person:
    """A directory entry. Secrets (password hash, activation code) never live here."""

    id: str
    school_id: str
    external_id: str
    profile: Profile
    first_name: str
    last_name: str
    login: str
    is_admin: bool
    active: bool
    activated: bool

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def profile_group(scope_id: str, profile: Profile) -> str:
    """Id of the implicit group "<profile>s of <school or class>".

    Membership of these groups follows from a person's profile and classes, so a
    pupil who changes class changes groups with no second write.
    """
    return f"{scope_id}/{profile.value}"


@dataclass(frozen=True, slots=True)
class Member:
    """What the circle of trust needs to know about a person.

    ``classes`` are the classes a pupil is in, a teacher teaches, or a parent's
    children are in; staff have none (they act school-wide).
    """

    id: str
    school_id: str
    profile: Profile
    display_name: str
    classes: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()
    guardians: frozenset[str] = frozenset()
    manual_groups: frozenset[str] = frozenset()
    is_admin: bool = False
    groups: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        groups = {profile_group(self.school_id, self.profile)}
        groups.update(profile_group(c, self.profile) for c in self.classes)
        groups.update(self.manual_groups)
        object.__setattr__(self, "groups", frozenset(groups))


@dataclass(frozen=True, slots=True)
class Room:
    """A place where people meet live.

    Class and parents' rooms follow from ``class_id`` and people's classes; a
    private conversation has an explicit list of ``members`` (person ids: the
    people who may read it), the person who opened it (``opener_id``: its
    opening condition is that they may reach every other member) and whether
    it is ``closed`` (read-only for everyone: a relation it needed ended,
    docs/conversations.md).
    """

    id: str
    school_id: str
    kind: RoomKind
    name: str
    class_id: str | None = None
    members: frozenset[str] = frozenset()
    opener_id: str | None = None
    closed: bool = False
