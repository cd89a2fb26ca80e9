"""Document rights, cell by cell: profile × (class, group, readers, lock)."""

from __future__ import annotations

import pytest

from preau.collab.ports import Access
from preau.server.directory.model import Member, Profile, Room, RoomKind
from preau.server.documents.model import DocumentInfo, DocumentKind
from preau.server.documents.rights import Role, document_role, live_access

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
    got = tuple(document_role(person, d, ROOM_A) for d in (whole, group, named))
    assert got == MATRIX[who]


def test_without_its_class_room_nobody_but_named_readers_gets_in() -> None:
    named = document(readers=frozenset({"parent_a"}))
    assert document_role(PEOPLE["teacher_a"], named, None) is Role.NONE
    assert document_role(PEOPLE["pupil_a"], named, None) is Role.NONE
    assert document_role(PEOPLE["parent_a"], named, None) is Role.READER


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
