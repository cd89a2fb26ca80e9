"""Who may do what with a document: one pure function over the directory's values.

It builds on the circle of trust (``may_join`` on the document's class room),
so a pupil of another class never reaches a document by guessing its name:

- the class's teachers **moderate**: they edit (even when locked), lock,
  choose the group, name readers, take and restore versions;
- the class's pupils **edit**, or only the chosen group when the document is
  restricted; when it is locked they read;
- the school's staff and the people a teacher named **read** — a named
  reader only while a teacher of the class may still reach them in the
  circle of trust as it stands now (``named_reader_in_reach``): a parent who
  lost custody, a rule the school removed, takes the document away as it
  takes the conversation away;
- someone a moderator removed from the class room (preau/server/moderation,
  ``room_members.removed``): nothing, until re-admitted;
- everyone else: nothing (the upgrade and the REST API answer 404).
"""

from __future__ import annotations

from enum import IntEnum

from preau.collab.ports import Access
from preau.server.directory.model import Member, Profile, Room
from preau.server.directory.rules import may_communicate, may_join
from preau.server.documents.model import DocumentInfo
from preau.server.store import SchoolView


class Role(IntEnum):
    NONE = 0
    READER = 1
    EDITOR = 2
    MODERATOR = 3


def named_reader_in_reach(member: Member, document: DocumentInfo, view: SchoolView | None) -> bool:
    """Whether ``member``, named a reader of ``document``, is still someone a
    teacher of its class may reach (naming them was checked the same way)."""
    if member.id not in document.readers or view is None:
        return False
    return any(
        teacher.profile is Profile.TEACHER and document.class_id in teacher.classes
        and may_communicate(teacher, member, view.rules)
        for teacher in view.members.values()
    )


def document_role(
    member: Member, document: DocumentInfo, class_room: Room | None, removed: bool = False,
    named_in_reach: bool = False,
) -> Role:
    """``class_room``: the class room of ``document.class_id`` (None if it
    vanished); ``removed``: a moderator removed the member from it;
    ``named_in_reach``: ``named_reader_in_reach`` for this member."""
    if member.school_id != document.school_id:
        return Role.NONE
    in_class = class_room is not None and may_join(member, class_room)
    if in_class and member.profile is Profile.TEACHER:
        return Role.MODERATOR  # moderators cannot be removed (moderation/rules.py)
    if removed:
        return Role.NONE
    if in_class and member.profile is Profile.PUPIL and (
        not document.restricted or member.id in document.editors
    ):
        return Role.EDITOR
    if named_in_reach or (in_class and member.profile is Profile.STAFF):
        return Role.READER
    return Role.NONE


def live_access(role: Role, document: DocumentInfo) -> Access:
    """What a live connection may do: a lock turns editors into readers."""
    if role is Role.MODERATOR:
        return Access.WRITE
    if role is Role.EDITOR:
        return Access.READ if document.locked else Access.WRITE
    if role is Role.READER:
        return Access.READ
    return Access.NONE
