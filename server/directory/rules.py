"""The circle of trust: who may talk to whom, who may enter which room.

Pure functions over immutable values, so they are cheap on the hot path and
tested cell by cell (tests/server/directory/test_rules.py walks the whole
profile × profile matrix). Every path that lets someone see another person or a
room's content calls one of them: sending, subscribing, reading history,
looking a person up.

The model is Open ENT NG's: people belong to groups (implicit profile groups
per school and per class, plus manual groups); a rule is a directed link
between two groups, and a group may be *internal* (its members may talk to
each other). A person's rights are the union over their groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from server.directory.model import Member, Profile, Room, RoomKind, profile_group


@dataclass(frozen=True, slots=True)
class CommunicationRules:
    """One school's rules, as data.

    ``links`` are directed (from_group, to_group) pairs: members of the first may
    reach members of the second. ``guardian_child`` lets parents and their own
    children reach each other whatever their groups.
    """

    links: frozenset[tuple[str, str]]
    internal: frozenset[str]
    guardian_child: bool = True


def default_rules(school_id: str, class_ids: Iterable[str]) -> CommunicationRules:
    """The rules a new school gets (shared/reference/communication-rules.md).

    - teachers and staff: both ways with everyone in the school;
    - pupils of a class: with each other (and, through the line above, with
      teachers and staff); never with pupils of other classes;
    - parents: with teachers, staff and their own children; not with other
      parents (the class's parents group is deliberately *not* internal).
    """
    school_groups = [profile_group(school_id, p) for p in Profile]
    links: set[tuple[str, str]] = set()
    for adult in (Profile.TEACHER, Profile.STAFF):
        adult_group = profile_group(school_id, adult)
        for other in school_groups:
            links.add((adult_group, other))
            links.add((other, adult_group))
    internal = {profile_group(c, Profile.PUPIL) for c in class_ids}
    return CommunicationRules(links=frozenset(links), internal=frozenset(internal))


def may_communicate(sender: Member, recipient: Member, rules: CommunicationRules) -> bool:
    """May ``sender`` reach ``recipient`` (message them, see them in the directory)?"""
    if sender.id == recipient.id:
        return True
    if sender.school_id != recipient.school_id:
        return False
    if rules.guardian_child and (
        recipient.id in sender.children or recipient.id in sender.guardians
    ):
        return True
    shared = sender.groups & recipient.groups
    if shared & rules.internal:
        return True
    links = rules.links
    return any((a, b) in links for a in sender.groups for b in recipient.groups)


def may_join(member: Member, room: Room) -> bool:
    """May ``member`` read and post in ``room`` (subscribe, history, send)?

    A class room gathers the class's pupils and teachers, and the school's staff
    who moderate it. Parents are not members: their place is the parents' room,
    which gathers the parents of the class's pupils, its teachers and the
    staff (no pupils); the school-wide parents' room gathers every parent,
    teacher and staff member of the school. A private conversation holds exactly its ``members``:
    nobody else, admins and staff included.
    """
    if member.school_id != room.school_id:
        return False
    if room.kind is RoomKind.PRIVATE:
        return member.id in room.members
    if room.kind is RoomKind.CLASS:
        if member.profile is Profile.STAFF:
            return True
        if member.profile in (Profile.PUPIL, Profile.TEACHER):
            return room.class_id in member.classes
        return False
    if room.kind is RoomKind.PARENTS:
        if member.profile is Profile.STAFF:
            return True
        if room.class_id is None:  # the school-wide parents' room
            return member.profile in (Profile.PARENT, Profile.TEACHER)
        if member.profile in (Profile.PARENT, Profile.TEACHER):
            return room.class_id in member.classes
        return False
    return False  # pragma: no cover - every kind is handled above
