"""The Store's directory contract (imports, schools, classes, people, rules),
on SQLite and on PostgreSQL."""

from __future__ import annotations

from preau.server.directory.model import Profile, RoomKind, profile_group
from preau.server.store import Link, Store
from tests.server.store.contract import (
    NOW,
    UAI,
    by_external_id,
    class_id,
    class_links,
    import_and_load,
    make_batch,
    parent,
    pupil,
    school_links,
    staff,
    teacher,
)

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
    async with store.engine.transaction() as tx:
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


async def test_every_import_bumps_the_directory_version(store: Store) -> None:
    first, view = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6A")))
    versions = await store.directory_versions()
    assert versions == {first.school.id: view.version}
    _, again = await import_and_load(store, make_batch(pupil("p1", "Léa", "Martin", "6B")))
    assert again.version == view.version + 1
    assert await store.directory_versions() == {first.school.id: again.version}
