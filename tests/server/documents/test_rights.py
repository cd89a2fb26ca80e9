"""Document rights, cell by cell: profile × (class, group, readers, lock)."""

from __future__ import annotations

import pytest

from preau.collab.ports import Access
from preau.server.directory.model import Member, Profile, Room, RoomKind, School
from preau.server.directory.rules import CommunicationRules, default_rules
from preau.server.documents.model import DocumentInfo, DocumentKind
from preau.server.documents.rights import (
    Role,
    document_role,
    live_access,
    named_reader_in_reach,
)
from preau.server.store import SchoolView

SCHOOL = "s1"
CLASS_A, CLASS_B = "6A", "6B"
ROOM_A = Room("room-6A", SCHOOL, RoomKind.CLASS, "6A", class_id=CLASS_A)


def member(pid: str, profile: Profile, *classes: str, school: str = SCHOOL) -> Member:
    return Member(pid, school, profile, pid, classes=frozenset(classes))


def document(**kw: object) -> DocumentInfo:
    base: dict[str, object] = {"id": "d", "school_id": SCHOOL, "class_id": CLASS_A,
                               "title": "t", "kind": DocumentKind.TEXT, "created_by": "t1",
                               "created_ms": 0}
    return DocumentInfo(**{**base, **kw})  # type: ignore[arg-type]


PEOPLE = {
    "pupil_a": member("pupil_a", Profile.PUPIL, CLASS_A),
    "pupil_a2": member("pupil_a2", Profile.PUPIL, CLASS_A),
    "pupil_b": member("pupil_b", Profile.PUPIL, CLASS_B),
    "teacher_a": member("teacher_a", Profile.TEACHER, CLASS_A, CLASS_B),
    "teacher_b": member("teacher_b", Profile.TEACHER, CLASS_B),
    "parent_a": member("parent_a", Profile.PARENT, CLASS_A),
    "staff": member("staff", Profile.STAFF),
    "other_school_teacher": member("other_school_teacher", Profile.TEACHER, CLASS_A,
                                   school="s2"),
}



def view(rules: CommunicationRules | None = None, **people: Member) -> SchoolView:
    members = {**PEOPLE, **people}
    return SchoolView(
        school=School(SCHOOL, "0000000A", "École", "Europe/Paris"), classes={}, people={},
        members={m.id: m for m in members.values() if m.school_id == SCHOOL},
        rules=rules or default_rules(SCHOOL, [CLASS_A, CLASS_B]), rooms={})


def role(person: Member, d: DocumentInfo, room: Room | None = ROOM_A,
         school: SchoolView | None = None) -> Role:
    return document_role(person, d, room,
                         named_in_reach=named_reader_in_reach(person, d, school or view()))


# (person, whole-class document, group = {pupil_a}, group + readers {parent_a, pupil_b})
MATRIX = {
    "pupil_a": (Role.EDITOR, Role.EDITOR, Role.EDITOR),
    "pupil_a2": (Role.EDITOR, Role.NONE, Role.NONE),
    "pupil_b": (Role.NONE, Role.NONE, Role.READER),
    "teacher_a": (Role.MODERATOR, Role.MODERATOR, Role.MODERATOR),
    "teacher_b": (Role.NONE, Role.NONE, Role.NONE),
    "parent_a": (Role.NONE, Role.NONE, Role.READER),
    "staff": (Role.READER, Role.READER, Role.READER),
    "other_school_teacher": (Role.NONE, Role.NONE, Role.NONE),
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_role_matrix(who: str) -> None:
    person = PEOPLE[who]
    whole = document()
    group = document(restricted=True, editors=frozenset({"pupil_a"}))
    named = document(restricted=True, editors=frozenset({"pupil_a"}),
                     readers=frozenset({"parent_a", "pupil_b"}))
    got = tuple(role(person, d) for d in (whole, group, named))
    assert got == MATRIX[who]


def test_without_its_class_room_nobody_but_named_readers_gets_in() -> None:
    named = document(readers=frozenset({"parent_a"}))
    assert role(PEOPLE["teacher_a"], named, None) is Role.NONE
    assert role(PEOPLE["pupil_a"], named, None) is Role.NONE
    assert role(PEOPLE["parent_a"], named, None) is Role.READER


# A named reader reads while a teacher of the class may still reach them:
# the directory or the rules changing after the naming takes the document away.
CHANGES = {
    # a parent whose child left the class (or who lost custody): no class left
    "parent lost the class": (PEOPLE["parent_a"], {"parent_a": member("parent_a", Profile.PARENT)}),
    # a pupil of another class who moved school
    "pupil moved school": (PEOPLE["pupil_b"], {"pupil_b": member("pupil_b", Profile.PUPIL,
                                                                CLASS_B, school="s2")}),
    # the class's only teacher stopped teaching it
    "teacher left the class": (PEOPLE["parent_a"], {"teacher_a": member(
        "teacher_a", Profile.TEACHER, CLASS_B)}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_named_reader_out_of_reach_reads_nothing(change: str) -> None:
    before, people = CHANGES[change]
    named = document(readers=frozenset({"parent_a", "pupil_b"}))
    assert role(before, named) is Role.READER
    after = people.get(before.id, before)
    assert role(after, named, school=view(**people)) is Role.NONE


def test_a_rule_removed_takes_the_named_readers_document_away() -> None:
    named = document(readers=frozenset({"parent_a"}))
    rules = default_rules(SCHOOL, [CLASS_A, CLASS_B])
    cut = CommunicationRules(
        links=frozenset(link for link in rules.links
                        if not any(PEOPLE["parent_a"].groups & {end} for end in link)),
        internal=rules.internal, guardian_child=rules.guardian_child)
    assert role(PEOPLE["parent_a"], named) is Role.READER
    assert role(PEOPLE["parent_a"], named, school=view(cut)) is Role.NONE


@pytest.mark.parametrize(("role", "unlocked", "locked"), [
    (Role.MODERATOR, Access.WRITE, Access.WRITE),
    (Role.EDITOR, Access.WRITE, Access.READ),
    (Role.READER, Access.READ, Access.READ),
    (Role.NONE, Access.NONE, Access.NONE),
])
def test_a_lock_turns_editors_into_readers(role: Role, unlocked: Access, locked: Access) -> None:
    assert live_access(role, document()) is unlocked
    assert live_access(role, document(locked=True)) is locked


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_removed_from_the_class_room_takes_every_document_but_a_teacher_keeps_hers(
    who: str,
) -> None:
    """A moderator's removal (room_members.removed): nothing, even as a named reader;
    teachers cannot be removed (moderation refuses it), so the flag changes nothing."""
    person = PEOPLE[who]
    named = document(restricted=True, editors=frozenset({"pupil_a"}),
                     readers=frozenset({"parent_a", "pupil_b"}))
    for doc in (document(), named):
        role = document_role(person, doc, ROOM_A, removed=True)
        expected = Role.MODERATOR if MATRIX[who][0] is Role.MODERATOR else Role.NONE
        assert role is expected
