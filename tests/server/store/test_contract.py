"""The Store contract: every test runs on SQLite and on PostgreSQL.

Only the Store interface is used, except where a test must look under it
(schema_migrations, deactivating a person: no Store method does that yet).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.directory.model import Profile, RoomKind, profile_group
from server.store import (
    ImportBatch,
    ImportResult,
    Link,
    Message,
    PersonRow,
    SchoolView,
    SessionRecord,
    Store,
)
from server.store.factory import open_store
from server.store.sql import SqlStore

NOW = 1_700_000_000_000
UAI = "0751234A"
MIGRATIONS = Path(__file__).parents[3] / "server" / "store" / "migrations"


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


def raw(store: Store) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


async def applied_versions(store: Store) -> list[tuple[int, int]]:
    async with raw(store).engine.transaction(readonly=True) as tx:
        rows = await tx.fetch("SELECT version, applied_ms FROM schema_migrations ORDER BY 1")
    return [(int(r["version"]), int(r["applied_ms"])) for r in rows]


# -- migrations --------------------------------------------------------------


def migration_files() -> list[int]:
    names = sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert names, "no migration shipped"
    for name in names:
        assert re.fullmatch(r"\d{4}_\w+\.sql", name), name
    return [int(name[:4]) for name in names]


async def test_migrations_are_numbered_from_one_without_gaps(store: Store) -> None:
    versions = migration_files()
    assert versions == list(range(1, len(versions) + 1))
    assert [v for v, _ in await applied_versions(store)] == versions


async def test_migrate_is_idempotent(store: Store) -> None:
    before = await applied_versions(store)
    assert await store.migrate() == migration_files()[-1]
    assert await store.migrate() == migration_files()[-1]
    assert await applied_versions(store) == before  # nothing re-applied, nothing re-stamped


async def test_concurrent_migrations_apply_once(store_url: str) -> None:
    # Two nodes starting together on an empty database.
    first, second = await open_store(store_url), await open_store(store_url)
    try:
        versions = await asyncio.gather(first.migrate(), second.migrate())
        assert list(versions) == [migration_files()[-1]] * 2
        assert [v for v, _ in await applied_versions(first)] == migration_files()
    finally:
        await first.close()
        await second.close()


async def test_ping(store: Store) -> None:
    await store.ping()


# -- directory ---------------------------------------------------------------


async def test_import_creates_school_classes_rooms_and_people(store: Store) -> None:
    result, view = await import_and_load(
        store,
        make_batch(
            pupil("p1", "Léa", "Martin", "6A", activation_hash="h1", activation_expires_ms=NOW),
            pupil("p2", "Hugo", "Bernard", "6B"),
            teacher("t1", "Marie", "Curie", "6A", "6B"),
            staff("s1", "Jean", "Valjean", is_admin=True),
        ),
    )
    assert result.school.uai == UAI
    assert result.school.name == "Collège Victor Hugo"
    assert result.classes_created == 2
    assert result.updated == 0
    assert [a.external_id for a in result.created] == ["p1", "p2", "t1", "s1"]
    assert [a.login for a in result.created] == [
        "lea.martin",
        "hugo.bernard",
        "marie.curie",
        "jean.valjean",
    ]

    assert view.school == result.school
    assert sorted(c.name for c in view.classes.values()) == ["6A", "6B"]
    assert all(c.school_id == result.school.id for c in view.classes.values())
    # One class room per class, named after it.
    rooms = {r.name: r for r in view.rooms.values()}
    assert sorted(rooms) == ["6A", "6B"]
    for name, room in rooms.items():
        assert room.kind is RoomKind.CLASS
        assert room.class_id == class_id(view, name)
        assert await store.get_room(room.id) == room
        assert await store.room_head(room.id) == 0

    ids = by_external_id(view)
    assert {a.person_id for a in result.created} == set(ids.values())
    lea = view.people[ids["p1"]]
    assert (lea.first_name, lea.last_name, lea.login) == ("Léa", "Martin", "lea.martin")
    assert lea.profile is Profile.PUPIL
    assert lea.active
    assert not lea.activated
    assert not lea.is_admin
    assert view.people[ids["s1"]].is_admin
    assert view.members[ids["s1"]].is_admin

    members = view.members
    assert members[ids["p1"]].classes == {class_id(view, "6A")}
    assert members[ids["p2"]].classes == {class_id(view, "6B")}
    assert members[ids["t1"]].classes == {class_id(view, "6A"), class_id(view, "6B")}
    assert members[ids["s1"]].classes == frozenset()
    assert members[ids["p1"]].display_name == "Léa Martin"

    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.person_id == ids["p1"]
    assert (creds.activation_hash, creds.activation_expires_ms) == ("h1", NOW)
    assert creds.password_hash is None


async def test_logins_are_unique_store_wide_and_ascii(store: Store) -> None:
    result = await store.import_directory(
        make_batch(
            pupil("p1", "Léa", "Martin", "6A"),
            pupil("p2", "Léa", "Martin", "6B"),
            pupil("p3", "Éloïse Anne", "Crème-Brûlée", "6A"),
            parent("r1", "Zoë", "D'Arc"),
            staff("s1", "Œdipe", "Łukasz"),
        ),
        NOW,
    )
    assert [a.login for a in result.created] == [
        "lea.martin",
        "lea.martin2",
        "eloise-anne.creme-brulee",
        "zoe.d-arc",
        "oedipe.lukasz",
    ]
    # A namesake in another school still gets a login of their own.
    other = await store.import_directory(
        make_batch(pupil("x1", "LÉA", "MARTIN", "CP"), uai="0690001B"), NOW
    )
    assert [a.login for a in other.created] == ["lea.martin3"]


async def test_reimport_updates_and_never_duplicates(store: Store) -> None:
    people = [
        pupil("p1", "Léa", "Martin", "6A", activation_hash="first"),
        teacher("t1", "Marie", "Curie", "6A"),
    ]
    first, view = await import_and_load(store, make_batch(*people))
    second, view2 = await import_and_load(
        store,
        make_batch(
            pupil("p1", "Léa", "Martin-Durand", "6A", activation_hash="second"),
            teacher("t1", "Marie", "Curie", "6A", is_admin=True),
            name="Collège Victor-Hugo",
            timezone="America/Cayenne",
        ),
    )
    assert second.school.id == first.school.id
    assert second.created == []
    assert second.updated == 2
    assert second.classes_created == 0
    assert view2.school.name == "Collège Victor-Hugo"
    assert view2.school.timezone == "America/Cayenne"
    assert await store.school_ids() == [first.school.id]
    assert view2.people.keys() == view.people.keys()
    assert view2.classes == view.classes
    assert view2.rooms == view.rooms

    ids = by_external_id(view2)
    lea = view2.people[ids["p1"]]
    assert lea.last_name == "Martin-Durand"
    assert lea.login == "lea.martin"  # logins never change once given
    assert view2.people[ids["t1"]].is_admin
    # The activation code of a batch is only for people it creates.
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.activation_hash == "first"


async def test_people_absent_from_a_batch_are_left_alone(store: Store) -> None:
    _, view = await import_and_load(
        store, make_batch(pupil("p1", "Léa", "Martin", "6A"), pupil("p2", "Hugo", "Roy", "6A"))
    )
    _, view2 = await import_and_load(store, make_batch(pupil("p2", "Hugo", "Roy", "6B")))
    ids = by_external_id(view2)
    assert set(ids) == {"p1", "p2"}
    assert view2.members[ids["p1"]].classes == {class_id(view, "6A")}


async def test_class_move_takes_effect(store: Store) -> None:
    _, view = await import_and_load(
        store,
        make_batch(
            pupil("p1", "Léa", "Martin", "6A"),
            teacher("t1", "Marie", "Curie", "6A"),
            parent("r1", "Anne", "Martin", "p1"),
        ),
    )
    result, view2 = await import_and_load(
        store,
        make_batch(
            pupil("p1", "Léa", "Martin", "6B"),
            teacher("t1", "Marie", "Curie", "6B", "5C"),
            parent("r1", "Anne", "Martin", "p1"),
        ),
    )
    assert result.classes_created == 2
    ids = by_external_id(view2)
    six_b = class_id(view2, "6B")
    assert view2.members[ids["p1"]].classes == {six_b}
    assert view2.members[ids["p1"]].groups >= {profile_group(six_b, Profile.PUPIL)}
    assert profile_group(class_id(view, "6A"), Profile.PUPIL) not in view2.members[ids["p1"]].groups
    assert view2.members[ids["t1"]].classes == {six_b, class_id(view2, "5C")}
    # A parent's classes follow the child's.
    assert view2.members[ids["r1"]].classes == {six_b}
    assert sorted(r.name for r in view2.rooms.values()) == ["5C", "6A", "6B"]


async def test_parent_links(store: Store) -> None:
    # Children imported first, their parents in a later batch.
    await store.import_directory(
        make_batch(pupil("p1", "Léa", "Martin", "6A"), pupil("p2", "Tom", "Martin", "4B")), NOW
    )
    _, view = await import_and_load(
        store,
        make_batch(
            parent("r1", "Anne", "Martin", "p1", "p2", "ghost"),  # unknown child: ignored
            parent("r2", "Paul", "Martin", "p1"),
        ),
    )
    ids = by_external_id(view)
    members = view.members
    assert members[ids["r1"]].children == {ids["p1"], ids["p2"]}
    assert members[ids["r1"]].classes == {class_id(view, "6A"), class_id(view, "4B")}
    assert members[ids["r2"]].children == {ids["p1"]}
    assert members[ids["p1"]].guardians == {ids["r1"], ids["r2"]}
    assert members[ids["p2"]].guardians == {ids["r1"]}
    assert members[ids["p1"]].children == frozenset()

    # A parent's links are replaced by their new row; re-importing a pupil
    # (whose row names no guardian) leaves the pupil's parents in place.
    _, view2 = await import_and_load(
        store,
        make_batch(parent("r1", "Anne", "Martin", "p2"), pupil("p1", "Léa", "Martin", "6A")),
    )
    assert view2.members[ids["r1"]].children == {ids["p2"]}
    assert view2.members[ids["r1"]].classes == {class_id(view2, "4B")}
    assert view2.members[ids["p1"]].guardians == {ids["r2"]}


async def test_default_links_are_stored_only_at_creation(store: Store) -> None:
    result, view = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6A")))
    school_id = result.school.id
    six_a = class_id(view, "6A")
    assert view.rules.links == {*school_links(school_id), *class_links(school_id, six_a)}
    assert view.rules.internal == frozenset()

    def other_school_links(sid: str) -> list[Link]:
        return [(f"{sid}/parent", f"{sid}/parent")]

    def other_class_links(sid: str, cid: str) -> list[Link]:
        return [(f"{cid}/teacher", f"{sid}/staff")]

    _, view2 = await import_and_load(
        store,
        make_batch(
            pupil("p1", "Léa", "Martin", "6A"),
            pupil("p2", "Hugo", "Roy", "6B"),
            school=other_school_links,
            klass=other_class_links,
        ),
    )
    six_b = class_id(view2, "6B")
    # The existing school and class keep their links; only the new class
    # gets the links of the second batch.
    assert view2.rules.links == view.rules.links | set(other_class_links(school_id, six_b))


async def test_inactive_people_are_hidden(store: Store) -> None:
    _, view = await import_and_load(
        store,
        make_batch(pupil("p1", "Léa", "Martin", "6A"), parent("r1", "Anne", "Martin", "p1")),
    )
    ids = by_external_id(view)
    assert await store.person_school(ids["p1"]) == view.school.id
    async with raw(store).engine.transaction() as tx:
        await tx.execute("UPDATE people SET active = 0 WHERE id = $1", ids["p1"])
    view2 = await store.load_school(view.school.id)
    assert view2 is not None
    assert ids["p1"] not in view2.people
    assert ids["p1"] not in view2.members
    assert view2.members[ids["r1"]].children == frozenset()
    assert view2.members[ids["r1"]].classes == frozenset()
    assert await store.person_school(ids["p1"]) is None
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert not creds.active


async def test_school_lookups(store: Store) -> None:
    assert await store.school_ids() == []
    assert await store.school_by_uai(UAI) is None
    assert await store.load_school("nope") is None
    assert await store.person_school("nope") is None
    a = await store.import_directory(make_batch(staff("s1", "A", "B")), NOW)
    b = await store.import_directory(make_batch(staff("s1", "C", "D"), uai="0690001B"), NOW)
    assert sorted(await store.school_ids()) == sorted([a.school.id, b.school.id])
    assert await store.school_by_uai(UAI) == a.school
    assert await store.school_by_uai("0690001B") == b.school
    # External ids are per school: the two "s1" are different people.
    assert await store.person_school(a.created[0].person_id) == a.school.id
    assert await store.person_school(b.created[0].person_id) == b.school.id


# -- accounts ----------------------------------------------------------------


async def test_credentials_lookup_is_case_insensitive(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="h", activation_expires_ms=5)),
        NOW,
    )
    for login in ("lea.martin", "LEA.Martin", "Lea.MARTIN"):
        creds = await store.credentials_by_login(login)
        assert creds is not None, login
        assert creds.person_id == result.created[0].person_id
        assert creds.login == "lea.martin"
        assert creds.active
        assert creds.activation_expires_ms == 5
    assert await store.credentials_by_login("lea.martin2") is None
    assert await store.credentials_by_login("") is None


async def test_activate_once(store: Store) -> None:
    result, _ = await import_and_load(
        store,
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code", activation_expires_ms=9)),
    )
    person_id, school_id = result.created[0].person_id, result.school.id
    assert await store.activate(person_id, "pw1", NOW) is True
    assert await store.activate(person_id, "pw2", NOW + 1) is False
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash == "pw1"  # the losing attempt changed nothing
    assert creds.activation_hash is None
    assert creds.activation_expires_ms is None
    assert creds.activation_used_hash == "code"
    view = await store.load_school(school_id)
    assert view is not None
    assert view.people[person_id].activated


async def test_racing_activations_have_one_winner(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code")), NOW
    )
    person_id = result.created[0].person_id
    outcomes = await asyncio.gather(*(store.activate(person_id, f"pw{i}", NOW) for i in range(8)))
    assert sorted(outcomes) == [False] * 7 + [True]


async def test_reset_activation_and_set_password(store: Store) -> None:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin", activation_hash="code1")), NOW
    )
    person_id, school_id = result.created[0].person_id, result.school.id
    assert await store.activate(person_id, "pw1", NOW)
    await store.set_password(person_id, "pw2", NOW + 1)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash == "pw2"

    await store.reset_activation(person_id, "code2", NOW + 100, NOW + 2)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert creds.password_hash is None
    assert (creds.activation_hash, creds.activation_expires_ms) == ("code2", NOW + 100)
    view = await store.load_school(school_id)
    assert view is not None
    assert not view.people[person_id].activated

    assert await store.activate(person_id, "pw3", NOW + 3)
    creds = await store.credentials_by_login("lea.martin")
    assert creds is not None
    assert (creds.password_hash, creds.activation_used_hash) == ("pw3", "code2")


async def test_account_changes_of_an_unknown_person_raise(store: Store) -> None:
    with pytest.raises(LookupError):
        await store.set_password("nobody", "pw", NOW)
    with pytest.raises(LookupError):
        await store.reset_activation("nobody", "code", NOW, NOW)
    assert await store.activate("nobody", "pw", NOW) is False


# -- sessions ----------------------------------------------------------------


def session(token: str, person_id: str, *, expires_ms: int = NOW + 1000) -> SessionRecord:
    return SessionRecord(token, person_id, "cookie", NOW, NOW, expires_ms)


async def two_people(store: Store) -> tuple[str, str]:
    result = await store.import_directory(
        make_batch(staff("s1", "Léa", "Martin"), staff("s2", "Hugo", "Roy")), NOW
    )
    return result.created[0].person_id, result.created[1].person_id


async def test_session_lifecycle(store: Store) -> None:
    lea, _ = await two_people(store)
    record = SessionRecord("tok", lea, "bearer", NOW, NOW + 5, NOW + 1000)
    await store.create_session(record)
    assert await store.get_session("tok") == record
    assert await store.get_session("other") is None

    await store.touch_sessions(["tok", "unknown"], NOW + 50)
    touched = await store.get_session("tok")
    assert touched is not None
    assert touched.last_seen_ms == NOW + 50
    await store.touch_sessions(["tok"], NOW + 10)  # late, out-of-order touch
    touched = await store.get_session("tok")
    assert touched is not None
    assert touched.last_seen_ms == NOW + 50
    await store.touch_sessions([], NOW + 60)

    await store.revoke_session("tok")
    revoked = await store.get_session("tok")
    assert revoked is not None
    assert revoked.revoked
    assert revoked == SessionRecord("tok", lea, "bearer", NOW, NOW + 50, NOW + 1000, True)


async def test_revoke_person_sessions(store: Store) -> None:
    lea, hugo = await two_people(store)
    for token, person in [("a", lea), ("b", lea), ("c", lea), ("d", lea), ("h", hugo)]:
        await store.create_session(session(token, person))
    await store.revoke_session("d")  # already revoked: not reported again

    assert sorted(await store.revoke_person_sessions(lea, keep="b")) == ["a", "c"]
    states = {t: s.revoked for t in "abcdh" if (s := await store.get_session(t)) is not None}
    assert states == {"a": True, "b": False, "c": True, "d": True, "h": False}

    assert await store.revoke_person_sessions(lea) == ["b"]
    assert await store.revoke_person_sessions(lea) == []
    h = await store.get_session("h")
    assert h is not None
    assert not h.revoked


async def test_delete_expired_sessions(store: Store) -> None:
    lea, hugo = await two_people(store)
    await store.create_session(session("old", lea, expires_ms=NOW + 10))
    await store.create_session(session("edge", hugo, expires_ms=NOW + 20))
    await store.create_session(session("live", lea, expires_ms=NOW + 30))
    assert await store.delete_expired_sessions(NOW + 20) == 2
    assert await store.get_session("old") is None
    assert await store.get_session("edge") is None
    assert await store.get_session("live") is not None
    assert await store.delete_expired_sessions(NOW + 20) == 0


# -- chat --------------------------------------------------------------------


async def test_sequences_are_gapless_per_room(store: Store) -> None:
    _, view = await import_and_load(
        store, make_batch(pupil("p1", "Léa", "Martin", "6A"), pupil("p2", "Hugo", "Roy", "6B"))
    )
    six_a, six_b = class_room(view, "6A"), class_room(view, "6B")
    sender = by_external_id(view)["p1"]
    for i in range(1, 6):
        message, created = await store.append_message(
            six_a, sender, f"t{i}", f"hello {i}", f"a{i}", NOW + i
        )
        assert created
        assert message == Message(six_a, i, f"a{i}", sender, f"t{i}", f"hello {i}", NOW + i)
        assert await store.room_head(six_a) == i
    # Each room counts on its own.
    message, _ = await store.append_message(six_b, sender, "t1", "other room", "b1", NOW)
    assert message.seq == 1
    assert await store.room_head(six_a) == 5


async def test_retry_is_idempotent_and_consumes_no_seq(store: Store) -> None:
    room, sender = await seeded_room(store)
    first, created = await store.append_message(room, sender, "txn-1", "hello", "id-1", NOW)
    assert created
    assert first.seq == 1
    retry, created = await store.append_message(room, sender, "txn-1", "edited?", "id-2", NOW + 9)
    assert not created
    assert retry == first  # the message first stored, not the retry's content
    assert await store.room_head(room) == 1
    # The same txn from another sender is another message.
    other, created = await store.append_message(room, "someone-else", "txn-1", "hi", "id-3", NOW)
    assert created
    assert other.seq == 2
    following, _ = await send(store, room, sender, "txn-2")
    assert following.seq == 3
    assert [m.seq for m in await store.messages_after(room, 0, 10)] == [1, 2, 3]


async def test_concurrent_appends_are_gapless(store: Store) -> None:
    room, sender = await seeded_room(store)
    txns = [f"t{i % 35}" for i in range(50)]  # 15 of the 50 sends are retries
    results = await asyncio.gather(*(send(store, room, sender, txn) for txn in txns))

    assert sum(created for _, created in results) == 35
    assert sorted(m.seq for m, created in results if created) == list(range(1, 36))
    by_txn: dict[str, Message] = {}
    for message, _ in results:
        assert by_txn.setdefault(message.txn, message) == message  # retries see the same one
    assert await store.room_head(room) == 35
    stored = await store.messages_after(room, 0, 100)
    assert [m.seq for m in stored] == list(range(1, 36))
    assert {m.txn for m in stored} == set(txns)


async def test_two_nodes_append_concurrently(store: Store, store_url: str) -> None:
    room, sender = await seeded_room(store)
    other_node = await open_store(store_url)
    try:
        results = await asyncio.gather(
            *(send(store if i % 2 else other_node, room, sender, f"t{i % 20}") for i in range(40))
        )
    finally:
        await other_node.close()
    assert sorted(m.seq for m, created in results if created) == list(range(1, 21))
    assert [m.seq for m in await store.messages_after(room, 0, 100)] == list(range(1, 21))


async def test_cancelled_sends_leave_no_gap(store: Store) -> None:
    # A client that hangs up mid-send cancels its task at any await point of
    # the transaction: what was committed stays gapless, the rest vanishes,
    # and the store (its connection or pool) stays usable.
    room, sender = await seeded_room(store)
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(send(store, room, sender, f"t{i}")) for i in range(60)]
    for i, task in enumerate(tasks):
        if i % 3 == 0:
            loop.call_later(0.0003 * i, task.cancel)
    # An engine may commit faster than any timer fires (SQLite runs short
    # transactions inline): cancel one before it even starts, too.
    tasks[1].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert any(isinstance(o, asyncio.CancelledError) for o in outcomes)

    stored = await store.messages_after(room, 0, 100)
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    assert await store.room_head(room) == len(stored)
    finished = {o[0].txn for o in outcomes if isinstance(o, tuple)}
    assert finished <= {m.txn for m in stored}
    message, created = await send(store, room, sender, "after")
    assert created
    assert message.seq == len(stored) + 1


async def test_paging(store: Store) -> None:
    room, sender = await seeded_room(store)
    for i in range(1, 11):
        await send(store, room, sender, f"t{i}")

    async def after(seq: int, limit: int) -> list[int]:
        return [m.seq for m in await store.messages_after(room, seq, limit)]

    async def before(seq: int, limit: int) -> list[int]:
        return [m.seq for m in await store.messages_before(room, seq, limit)]

    assert await after(0, 3) == [1, 2, 3]
    assert await after(3, 3) == [4, 5, 6]
    assert await after(8, 5) == [9, 10]
    assert await after(10, 5) == []
    assert await after(0, 0) == []
    assert await before(11, 3) == [8, 9, 10]  # the newest page, oldest first
    assert await before(8, 3) == [5, 6, 7]
    assert await before(3, 5) == [1, 2]
    assert await before(1, 5) == []
    assert await before(11, 0) == []
    assert await before(11, -1) == []
    page = await store.messages_after(room, 4, 1)
    assert page == [Message(room, 5, "m-t5", sender, "t5", "body of t5", NOW)]


async def test_unknown_room(store: Store) -> None:
    room, sender = await seeded_room(store)
    with pytest.raises(LookupError):
        await store.append_message("no-such-room", sender, "t", "hi", "id", NOW)
    assert await store.get_room("no-such-room") is None
    assert await store.room_head("no-such-room") == 0
    assert await store.messages_after("no-such-room", 0, 10) == []
    assert await store.messages_before("no-such-room", 10, 10) == []
    # The store is still usable, and the failed send left no trace.
    message, created = await send(store, room, sender, "t")
    assert created
    assert message.seq == 1


async def test_every_import_bumps_the_directory_version(store: Store) -> None:
    first, view = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6A")))
    versions = await store.directory_versions()
    assert versions == {first.school.id: view.version}
    _, again = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6B")))
    assert again.version == view.version + 1
    assert await store.directory_versions() == {first.school.id: again.version}
