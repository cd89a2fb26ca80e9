"""What the Store contract tests share: a school to import, a room with a
pupil, a teacher and an admin in it, a second store on the same database
(a second node).

The tests use only the Store interface, except where they must look under it
through ``store.engine`` (schema_migrations, deactivating a person: no Store
method does that yet)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from preau.server.chat.posting import post_message
from preau.server.directory.model import Profile, profile_group
from preau.server.moderation.rules import PolicyChange, RoomPolicy
from preau.server.store import (
    AuditQuery,
    Author,
    ImportBatch,
    ImportResult,
    Link,
    Message,
    PersonRow,
    PostResult,
    SchoolView,
    Store,
)
from preau.server.store.factory import open_store

NOW = 1_700_000_000_000
UAI = "0751234A"


# -- helpers ---------------------------------------------------------------


def school_links(school_id: str) -> list[Link]:
    teachers = profile_group(school_id, Profile.TEACHER)
    pupils = profile_group(school_id, Profile.PUPIL)
    return [(teachers, pupils), (pupils, teachers)]


def class_links(school_id: str, class_id: str) -> list[Link]:
    pupils = profile_group(class_id, Profile.PUPIL)
    return [(pupils, pupils)]


def make_batch(
    *people: PersonRow,
    uai: str = UAI,
    name: str = "Collège Victor Hugo",
    timezone: str = "Europe/Paris",
    school: Callable[[str], list[Link]] = school_links,
    klass: Callable[[str, str], list[Link]] = class_links,
) -> ImportBatch:
    return ImportBatch(uai, name, timezone, people, school, klass)


def pupil(ext: str, first: str, last: str, klass: str, **kw: Any) -> PersonRow:
    return PersonRow(ext, Profile.PUPIL, first, last, class_names=(klass,), **kw)


def teacher(ext: str, first: str, last: str, *classes: str, **kw: Any) -> PersonRow:
    return PersonRow(ext, Profile.TEACHER, first, last, class_names=classes, **kw)


def parent(ext: str, first: str, last: str, *children: str, **kw: Any) -> PersonRow:
    return PersonRow(ext, Profile.PARENT, first, last, parent_of=children, **kw)


def staff(ext: str, first: str, last: str, **kw: Any) -> PersonRow:
    return PersonRow(ext, Profile.STAFF, first, last, **kw)


def by_external_id(view: SchoolView) -> dict[str, str]:
    return {p.external_id: p.id for p in view.people.values()}


def class_id(view: SchoolView, name: str) -> str:
    (found,) = [c.id for c in view.classes.values() if c.name == name]
    return found


def class_room(view: SchoolView, name: str) -> str:
    (found,) = [r.id for r in view.rooms.values() if r.name == name]
    return found


async def import_and_load(store: Store, batch: ImportBatch) -> tuple[ImportResult, SchoolView]:
    result = await store.import_directory(batch, NOW)
    view = await store.load_school(result.school.id)
    assert view is not None
    return result, view


async def seeded_room(store: Store) -> tuple[str, str]:
    """A class room and a sender in it."""
    _, view = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6A")))
    return class_room(view, "6A"), by_external_id(view)["p1"]


async def send(store: Store, room: str, sender: str, txn: str) -> tuple[Message, bool]:
    return await store.append_message(room, sender, txn, f"body of {txn}", f"m-{txn}", NOW)


@dataclass
class Room:
    store: Store
    id: str
    school: str
    lea: Author
    hugo: Author
    claire: Author  # teacher: moderator
    anne: Author  # staff: moderator

    async def post(self, author: Author, txn: str, at: int = NOW, body: str = "",
                   plain: bool = True) -> PostResult:
        """As the server posts: the one-statement path first (``plain``), then
        the general one; ``plain=False``: the general path alone."""
        return await post_message(
            self.store, self.id, author, txn, body or f"body of {txn}", f"m-{txn}-{author.id}",
            f"h-{txn}-{author.id}", at, school_id=self.school if plain else None,
        )

    async def policy(self, at: int = NOW, **change: object) -> RoomPolicy:
        policy, _ = await self.store.set_room_policy(
            self.id, self.claire.id, PolicyChange(**change), None, at  # type: ignore[arg-type]
        )
        return policy


@pytest.fixture
async def room(store: Store) -> Room:
    result, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        pupil("p2", "Hugo", "Bernard", "6A"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
        staff("s1", "Anne", "Roux", is_admin=True),
    ))
    ids = by_external_id(view)
    return Room(
        store, class_room(view, "6A"), result.school.id,
        Author(ids["p1"], Profile.PUPIL, False), Author(ids["p2"], Profile.PUPIL, False),
        Author(ids["t1"], Profile.TEACHER, True), Author(ids["s1"], Profile.STAFF, True),
    )


@pytest.fixture
async def other_node(store_url: str, store: Store) -> AsyncIterator[Store]:
    """A second store on the same database, as a second node has."""
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


async def audit(room: Room, **query: object) -> list[tuple[str, str | None]]:
    entries = await room.store.audit_entries(room.school, AuditQuery(**query))  # type: ignore[arg-type]
    return [(e.action.value, e.target_person_id) for e in entries]
