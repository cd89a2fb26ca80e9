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

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from preau.server.directory.model import Member, Profile, Room, RoomKind, School, profile_group


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

    - staff: both ways with everyone in the school;
    - teachers: both ways with every pupil and every teacher of the school, and
      with the parents of the pupils of the classes they teach;
    - pupils of a class: with each other (and, through the lines above, with
      teachers and staff); never with pupils of other classes;
    - parents: with the staff, their children's teachers and their own
      children; not with other parents (the class's parents group is
      deliberately *not* internal) nor with the teachers of other classes.
    """
    school_groups = [profile_group(school_id, p) for p in Profile]
    staff = profile_group(school_id, Profile.STAFF)
    teachers = profile_group(school_id, Profile.TEACHER)
    links: set[tuple[str, str]] = set()
    for other in school_groups:
        links.add((staff, other))
        links.add((other, staff))
    for other in (profile_group(school_id, Profile.PUPIL), teachers):
        links.add((teachers, other))
        links.add((other, teachers))
    class_ids = list(class_ids)
    for class_id in class_ids:
        class_parents = profile_group(class_id, Profile.PARENT)
        class_teachers = profile_group(class_id, Profile.TEACHER)
        links.add((class_parents, class_teachers))
        links.add((class_teachers, class_parents))
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


def presence_shown(viewer: Member, person: Member, school: School) -> bool:
    """May ``viewer`` see that ``person`` is online? Parents see the school's
    teachers and staff online only where the school allows it
    (``School.staff_presence_to_parents``, off by default, as ENTs do)."""
    return viewer.profile is not Profile.PARENT or not hidden_from_parents(person, school)


def hidden_from_parents(person: Member, school: School) -> bool:
    """Whether ``person``'s presence is kept from parents in this school."""
    staff = person.profile in (Profile.TEACHER, Profile.STAFF)
    return staff and not school.staff_presence_to_parents


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


# -- conversations after a directory change ----------------------------------
# A conversation was opened because its opener could reach every other person.
# When that stops being true (a class move, a custody change, a school setting,
# someone leaving the school), the conversation closes: nobody posts any more.
# Who keeps its history read-only is decided here too, from the directory as it
# is now, so every node agrees without knowing what it was before
# (docs/conversations.md, "When a relation ends").


def conversation_break(
    room: Room, members: Mapping[str, Member], rules: CommunicationRules
) -> str | None:
    """Why ``room``'s opening condition no longer holds (``left_school``,
    ``relation_ended``), or None while it holds."""
    people = [members.get(p) for p in sorted(room.members)]
    present = [m for m in people if m is not None and m.school_id == room.school_id]
    if len(present) < len(people) or len(present) < 2:
        return "left_school"
    opener = members.get(room.opener_id) if room.opener_id in room.members else None
    if opener is not None:
        if all(may_communicate(opener, m, rules) for m in present):
            return None
        return "relation_ended"
    # Opened before openers were recorded: every pair must still reach each
    # other one way or the other.
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            if not (may_communicate(a, b, rules) or may_communicate(b, a, rules)):
                return "relation_ended"
    return None


def keeps_history(
    person_id: str, room: Room, members: Mapping[str, Member], rules: CommunicationRules
) -> bool:
    """May ``person_id`` still read ``room`` once it no longer holds?

    Only if they are still in the school and may still reach, one way or the
    other, every pupil in it: a minor's words stay with the people the circle
    of trust still lets near that minor (a parent who lost custody loses the
    conversation with the child; the child keeps it read-only).
    """
    me = members.get(person_id)
    if me is None or me.school_id != room.school_id or person_id not in room.members:
        return False
    for other_id in room.members:
        other = members.get(other_id)
        if other_id == person_id or other is None or other.profile is not Profile.PUPIL:
            continue
        if not (may_communicate(me, other, rules) or may_communicate(other, me, rules)):
            return False
    return True


def conversation_now(
    room: Room, members: Mapping[str, Member], rules: CommunicationRules
) -> Room:
    """``room`` (a private conversation as stored) as the directory now allows
    it: closed if its condition broke, and readable only by who keeps its
    history. The pure core of every access check to a conversation."""
    if room.kind is not RoomKind.PRIVATE:
        return room
    if not room.closed and conversation_break(room, members, rules) is None:
        return room
    readers = frozenset(p for p in room.members if keeps_history(p, room, members, rules))
    return dataclasses.replace(room, closed=True, members=readers)


def may_issue_code(viewer: Member, person: Member) -> bool:
    """May ``viewer`` hand ``person`` a new activation code (a forgotten
    password, a lost code)? The school's admins, for anyone of their school;
    a teacher, for the pupils of the classes they teach (a child's password
    is never reset by e-mail). Nobody for themselves: that is "change my
    password"."""
    if viewer.school_id != person.school_id or viewer.id == person.id:
        return False
    if viewer.is_admin:
        return True
    return (viewer.profile is Profile.TEACHER and person.profile is Profile.PUPIL
            and bool(viewer.classes & person.classes))
