"""The circle of trust, cell by cell (shared/reference/communication-rules.md).

The expected answers are written out below as tables, by hand, from the French
ENT defaults; they are never computed from the code under test. Every cell is
checked against the rules in both forms they exist in:

- ``memory``: the value ``default_rules(school, classes)`` returns, where
  "pupils of a class may talk to each other" is the ``internal`` set;
- ``stored``: what the store keeps and loads back (see
  preau/server/directory/importer.py ``class_links`` and the SQL store's
  ``load_school``): the same school links plus a self-link ``(g, g)`` per class
  pupils' group, with ``internal`` empty.

A last test imports the same people from a CSV into a real SQLite store and
walks the same tables with the members and rules ``load_school`` returns.
"""

from __future__ import annotations

import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Member, Profile, Room, RoomKind, profile_group
from preau.server.directory.rules import (
    CommunicationRules,
    default_rules,
    may_communicate,
    may_join,
)
from preau.server.store import SchoolView, Store

# -- the two schools ---------------------------------------------------------

S1, S2 = "school-1", "school-2"
CLASS_A, CLASS_B, CLASS_C = "class-A", "class-B", "class-C"  # A, B in S1; C in S2


def _member(
    id: str,
    school: str,
    profile: Profile,
    classes: tuple[str, ...] = (),
    children: tuple[str, ...] = (),
    guardians: tuple[str, ...] = (),
    is_admin: bool = False,
) -> Member:
    return Member(
        id=id,
        school_id=school,
        profile=profile,
        display_name=id,
        classes=frozenset(classes),
        children=frozenset(children),
        guardians=frozenset(guardians),
        is_admin=is_admin,
    )


# Short names, used as the tables' row and column headings:
#   pA1 pA2  pupils of class A        pB   pupil of class B
#   tA  tB   teachers of A, of B      tAB  a teacher of both A and B
#   rA1 rA2  parents of pA1, of pA2   rB   parent of pB
#   st       staff                    adm  staff, local administrator
#   xp xt xr xs: pupil, teacher, parent (of xp), staff of the second school.
MEMBERS: dict[str, Member] = {
    m.id: m
    for m in (
        _member("pA1", S1, Profile.PUPIL, (CLASS_A,), guardians=("rA1",)),
        _member("pA2", S1, Profile.PUPIL, (CLASS_A,), guardians=("rA2",)),
        _member("pB", S1, Profile.PUPIL, (CLASS_B,), guardians=("rB",)),
        _member("tA", S1, Profile.TEACHER, (CLASS_A,)),
        _member("tB", S1, Profile.TEACHER, (CLASS_B,)),
        _member("tAB", S1, Profile.TEACHER, (CLASS_A, CLASS_B)),
        # A parent's classes are their children's (see Member's docstring).
        _member("rA1", S1, Profile.PARENT, (CLASS_A,), children=("pA1",)),
        _member("rA2", S1, Profile.PARENT, (CLASS_A,), children=("pA2",)),
        _member("rB", S1, Profile.PARENT, (CLASS_B,), children=("pB",)),
        _member("st", S1, Profile.STAFF),
        _member("adm", S1, Profile.STAFF, is_admin=True),
        _member("xp", S2, Profile.PUPIL, (CLASS_C,), guardians=("xr",)),
        _member("xt", S2, Profile.TEACHER, (CLASS_C,)),
        _member("xr", S2, Profile.PARENT, (CLASS_C,), children=("xp",)),
        _member("xs", S2, Profile.STAFF),
    )
}

# -- the expected matrix: may ROW write to COLUMN? ---------------------------
# Y: allowed, .: denied. Read the reasons next to each row.
COMMUNICATION = """
        pA1 pA2 pB  tA  tB  tAB rA1 rA2 rB  st  adm xp  xt  xr  xs
pA1     Y   Y   .   Y   Y   Y   Y   .   .   Y   Y   .   .   .   .
pA2     Y   Y   .   Y   Y   Y   .   Y   .   Y   Y   .   .   .   .
pB      .   .   Y   Y   Y   Y   .   .   Y   Y   Y   .   .   .   .
tA      Y   Y   Y   Y   Y   Y   Y   Y   .   Y   Y   .   .   .   .
tB      Y   Y   Y   Y   Y   Y   .   .   Y   Y   Y   .   .   .   .
tAB     Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   .   .   .   .
rA1     Y   .   .   Y   .   Y   Y   .   .   Y   Y   .   .   .   .
rA2     .   Y   .   Y   .   Y   .   Y   .   Y   Y   .   .   .   .
rB      .   .   Y   .   Y   Y   .   .   Y   Y   Y   .   .   .   .
st      Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   .   .   .   .
adm     Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   Y   .   .   .   .
xp      .   .   .   .   .   .   .   .   .   .   .   Y   Y   Y   Y
xt      .   .   .   .   .   .   .   .   .   .   .   Y   Y   Y   Y
xr      .   .   .   .   .   .   .   .   .   .   .   Y   Y   Y   Y
xs      .   .   .   .   .   .   .   .   .   .   .   Y   Y   Y   Y
"""
# Why, row by row:
# - pupils: their own class's pupils (pA1↔pA2), never another class's (pA1↛pB);
#   every teacher and staff member of the school (teachers and staff talk both
#   ways with everyone in the school, so pA1→tB too); their own parents only.
# - teachers: every pupil and teacher of their school, and the parents of the
#   classes they teach (tA→rA1, tA↛rB; tAB teaches both: every parent).
# - staff (admin or not): everyone in their school.
# - parents: their own child, their children's teachers (rA1→tA, rA1↛tB), the
#   staff; not another child, even of the same class (rA1↛pA2); never another
#   parent, same class (rA1↛rA2) or not.
# - the second school: the same pattern inside it, and nothing across schools,
#   staff and teachers included.

ROOMS = """
        room-A  room-B  room-C
pA1     Y       .       .
pA2     Y       .       .
pB      .       Y       .
tA      Y       .       .
tB      .       Y       .
tAB     Y       Y       .
rA1     .       .       .
rA2     .       .       .
rB      .       .       .
st      Y       Y       .
adm     Y       Y       .
xp      .       .       Y
xt      .       .       Y
xr      .       .       .
xs      .       .       Y
"""
# A class room gathers the class's pupils and teachers and the school's staff;
# parents never (their place is a parents' room); nobody from another school.

ROOM_OBJECTS = {
    "room-A": Room(id="room-A", school_id=S1, kind=RoomKind.CLASS, name="5eA", class_id=CLASS_A),
    "room-B": Room(id="room-B", school_id=S1, kind=RoomKind.CLASS, name="5eB", class_id=CLASS_B),
    "room-C": Room(id="room-C", school_id=S2, kind=RoomKind.CLASS, name="6eC", class_id=CLASS_C),
}


def _table(text: str) -> dict[tuple[str, str], bool]:
    lines = [line.split() for line in text.strip().splitlines()]
    columns, rows = lines[0], lines[1:]
    cells: dict[tuple[str, str], bool] = {}
    for row in rows:
        assert len(row) == len(columns) + 1, f"malformed table row {row}"
        for column, mark in zip(columns, row[1:], strict=True):
            assert mark in ("Y", "."), f"bad mark {mark!r}"
            cells[(row[0], column)] = mark == "Y"
    return cells


EXPECTED_COMM = _table(COMMUNICATION)
EXPECTED_JOIN = _table(ROOMS)


def test_the_tables_cover_every_cell() -> None:
    assert {s for s, _ in EXPECTED_COMM} == set(MEMBERS)
    assert {r for _, r in EXPECTED_COMM} == set(MEMBERS)
    assert len(EXPECTED_COMM) == len(MEMBERS) ** 2
    assert {m for m, _ in EXPECTED_JOIN} == set(MEMBERS)
    assert {r for _, r in EXPECTED_JOIN} == set(ROOM_OBJECTS)
    # Both kinds of cells exist, in every category the brief names.
    assert sum(EXPECTED_COMM.values()) not in (0, len(EXPECTED_COMM))


# -- the two forms of the rules ------------------------------------------------

SCHOOL_CLASSES = {S1: (CLASS_A, CLASS_B), S2: (CLASS_C,)}


def memory_rules(school: str) -> CommunicationRules:
    return default_rules(school, SCHOOL_CLASSES[school])


def stored_rules(school: str) -> CommunicationRules:
    """The stored form, built by hand from the importer's documented shape:
    school links, plus per class its parents↔teachers links and a self-link on
    its pupils' group."""
    school_links = default_rules(school, ()).links
    class_links = set()
    for c in SCHOOL_CLASSES[school]:
        parents, teachers = profile_group(c, Profile.PARENT), profile_group(c, Profile.TEACHER)
        pupils = profile_group(c, Profile.PUPIL)
        class_links |= {(parents, teachers), (teachers, parents), (pupils, pupils)}
    return CommunicationRules(links=school_links | class_links, internal=frozenset())


RULE_FORMS = {"memory": memory_rules, "stored": stored_rules}


def test_stored_form_has_no_internal_groups_and_memory_form_has_no_self_links() -> None:
    # The two forms really are different data: the agreement tests below are
    # not comparing a value with itself.
    for school in SCHOOL_CLASSES:
        memory, stored = memory_rules(school), stored_rules(school)
        assert memory.internal == {profile_group(c, Profile.PUPIL) for c in SCHOOL_CLASSES[school]}
        assert not any(a == b and a.endswith("/pupil") for a, b in memory.links)
        assert stored.internal == frozenset()
        assert stored.links > memory.links


@pytest.mark.parametrize("form", sorted(RULE_FORMS))
@pytest.mark.parametrize(("sender", "recipient"), sorted(EXPECTED_COMM), ids=lambda v: str(v))
def test_may_communicate_matrix(sender: str, recipient: str, form: str) -> None:
    # The sender's school's rules decide (as Directory.may_communicate does).
    rules = RULE_FORMS[form](MEMBERS[sender].school_id)
    expected = EXPECTED_COMM[(sender, recipient)]
    assert may_communicate(MEMBERS[sender], MEMBERS[recipient], rules) is expected


def test_both_forms_agree_on_every_cell() -> None:
    disagreements = [
        (s, r)
        for s, r in EXPECTED_COMM
        if may_communicate(MEMBERS[s], MEMBERS[r], memory_rules(MEMBERS[s].school_id))
        != may_communicate(MEMBERS[s], MEMBERS[r], stored_rules(MEMBERS[s].school_id))
    ]
    assert disagreements == []


@pytest.mark.parametrize(("member", "room"), sorted(EXPECTED_JOIN), ids=lambda v: str(v))
def test_may_join_matrix(member: str, room: str) -> None:
    assert may_join(MEMBERS[member], ROOM_OBJECTS[room]) is EXPECTED_JOIN[(member, room)]


# -- the rule engine itself (not only the defaults) ------------------------------


def _pupils(*ids: str, klass: str = CLASS_A) -> list[Member]:
    return [_member(i, S1, Profile.PUPIL, (klass,)) for i in ids]


def test_self_link_lets_two_members_of_a_group_talk() -> None:
    a, b = _pupils("a", "b")
    group = profile_group(CLASS_A, Profile.PUPIL)
    with_self_link = CommunicationRules(links=frozenset({(group, group)}), internal=frozenset())
    nothing = CommunicationRules(links=frozenset(), internal=frozenset())
    assert may_communicate(a, b, with_self_link)
    assert may_communicate(b, a, with_self_link)
    assert not may_communicate(a, b, nothing)


def test_internal_group_lets_its_members_talk_but_not_outsiders() -> None:
    a, b = _pupils("a", "b")
    (c,) = _pupils("c", klass=CLASS_B)
    rules = CommunicationRules(
        links=frozenset(), internal=frozenset({profile_group(CLASS_A, Profile.PUPIL)})
    )
    assert may_communicate(a, b, rules)
    assert not may_communicate(a, c, rules)
    assert not may_communicate(c, a, rules)


def test_links_are_directed() -> None:
    (pupil,) = _pupils("p")
    staff = _member("s", S1, Profile.STAFF)
    one_way = CommunicationRules(
        links=frozenset({(profile_group(S1, Profile.PUPIL), profile_group(S1, Profile.STAFF))}),
        internal=frozenset(),
    )
    assert may_communicate(pupil, staff, one_way)
    assert not may_communicate(staff, pupil, one_way)


def test_guardian_child_can_be_switched_off() -> None:
    rules = CommunicationRules(links=frozenset(), internal=frozenset(), guardian_child=False)
    assert not may_communicate(MEMBERS["rA1"], MEMBERS["pA1"], rules)
    assert not may_communicate(MEMBERS["pA1"], MEMBERS["rA1"], rules)
    on = CommunicationRules(links=frozenset(), internal=frozenset())
    assert may_communicate(MEMBERS["rA1"], MEMBERS["pA1"], on)
    assert may_communicate(MEMBERS["pA1"], MEMBERS["rA1"], on)


def test_manual_group_link() -> None:
    # A parents' room created by staff: a manual group linked to itself.
    group = f"{S1}/manual/parents-5eA"
    r1 = _member("r1", S1, Profile.PARENT, (CLASS_A,))
    r2 = _member("r2", S1, Profile.PARENT, (CLASS_A,))
    r1m = Member(
        id="r1",
        school_id=S1,
        profile=Profile.PARENT,
        display_name="r1",
        classes=frozenset({CLASS_A}),
        manual_groups=frozenset({group}),
    )
    r2m = Member(
        id="r2",
        school_id=S1,
        profile=Profile.PARENT,
        display_name="r2",
        classes=frozenset({CLASS_A}),
        manual_groups=frozenset({group}),
    )
    rules = default_rules(S1, [CLASS_A])
    with_group = CommunicationRules(links=rules.links | {(group, group)}, internal=rules.internal)
    assert not may_communicate(r1, r2, with_group)
    assert may_communicate(r1m, r2m, with_group)


def test_cross_school_is_denied_even_with_a_link_between_the_groups() -> None:
    staff1, staff2 = MEMBERS["st"], MEMBERS["xs"]
    rules = CommunicationRules(
        links=frozenset({(g1, g2) for g1 in staff1.groups for g2 in staff2.groups}),
        internal=frozenset(),
    )
    assert not may_communicate(staff1, staff2, rules)


# -- the same tables through the real importer and SQLite store -----------------

CSV_S1 = """id;profile;last_name;first_name;classes;parent_of;admin
pA1;pupil;Martin;Léa;5eA;;
pA2;pupil;Bernard;Hugo;5eA;;
pB;pupil;Petit;Inès;5eB;;
tA;teacher;Durand;Claire;5eA;;
tB;teacher;Leroy;Marc;5eB;;
tAB;teacher;Moreau;Sophie;5eA|5eB;;
rA1;parent;Martin;Paul;;pA1;
rA2;parent;Bernard;Anne;;pA2;
rB;parent;Petit;Karim;;pB;
st;staff;Roux;Anne;;;
adm;staff;Faure;Julie;;;yes
"""
CSV_S2 = """id;profile;last_name;first_name;classes;parent_of;admin
xp;pupil;Simon;Emma;6eC;;
xt;teacher;Laurent;Adam;6eC;;
xr;parent;Simon;Louis;;xp;
xs;staff;Garnier;Jade;;;
"""
NOW = 1_700_000_000_000


async def _import(store: Store, uai: str, text: str) -> SchoolView:
    parsed = parse_csv(text)
    assert parsed.errors == []
    report = await import_directory(
        store,
        parsed,
        uai=uai,
        school_name=uai,
        timezone="Europe/Paris",
        activation_ttl_s=3600,
        now_ms=NOW,
    )
    assert report.errors == []
    view = await store.load_school(report.school.id)
    assert view is not None
    return view


async def test_stored_rules_from_the_real_importer_follow_the_same_tables(
    sqlite_store: Store,
) -> None:
    views = [
        await _import(sqlite_store, "0750001A", CSV_S1),
        await _import(sqlite_store, "0750002B", CSV_S2),
    ]
    members: dict[str, Member] = {}
    view_of: dict[str, SchoolView] = {}
    rooms: dict[str, Room] = {}
    room_names = {"5eA": "room-A", "5eB": "room-B", "6eC": "room-C"}
    for view in views:
        assert view.rules.internal == frozenset()  # the stored form
        for person in view.people.values():
            members[person.external_id] = view.members[person.id]
            view_of[person.external_id] = view
        for room in view.rooms.values():
            rooms[room_names[room.name]] = room
    assert set(members) == set(MEMBERS)
    assert members["adm"].is_admin

    wrong = [
        (s, r, expected)
        for (s, r), expected in EXPECTED_COMM.items()
        if may_communicate(members[s], members[r], view_of[s].rules) is not expected
    ]
    assert wrong == []
    wrong = [
        (m, room, expected)
        for (m, room), expected in EXPECTED_JOIN.items()
        if may_join(members[m], rooms[room]) is not expected
    ]
    assert wrong == []


# -- parents' rooms and private conversations --------------------------------

NEW_KIND_ROOMS = """
        par-A   par-C   conv    conv-x
pA1     .       .       .       .
pA2     .       .       .       .
pB      .       .       .       .
tA      Y       .       Y       .
tB      .       .       .       .
tAB     Y       .       .       .
rA1     Y       .       Y       .
rA2     Y       .       .       .
rB      .       .       .       .
st      Y       .       .       .
adm     Y       .       .       .
xp      .       .       .       .
xt      .       Y       .       .
xr      .       Y       .       .
xs      .       Y       .       .
"""
# A parents' room gathers the parents of the class's pupils (rA1, rA2), its
# teachers and the school's staff; no pupil, no parent of another class (rB).
# A conversation holds exactly its members: not staff, not the admin, not a
# pupil of the parent. ``conv-x`` lists a person of S1 but belongs to S2: the
# school check still holds.

NEW_KIND_ROOM_OBJECTS = {
    "par-A": Room(id="par-A", school_id=S1, kind=RoomKind.PARENTS, name="P 5eA",
                  class_id=CLASS_A),
    "par-C": Room(id="par-C", school_id=S2, kind=RoomKind.PARENTS, name="P 6eC",
                  class_id=CLASS_C),
    "conv": Room(id="conv", school_id=S1, kind=RoomKind.PRIVATE, name="rA1, tA",
                 members=frozenset({"rA1", "tA"})),
    "conv-x": Room(id="conv-x", school_id=S2, kind=RoomKind.PRIVATE, name="odd",
                   members=frozenset({"rA1"})),
}
EXPECTED_NEW_KIND_JOIN = _table(NEW_KIND_ROOMS)


def test_the_new_kind_table_covers_every_cell() -> None:
    assert {m for m, _ in EXPECTED_NEW_KIND_JOIN} == set(MEMBERS)
    assert {r for _, r in EXPECTED_NEW_KIND_JOIN} == set(NEW_KIND_ROOM_OBJECTS)


@pytest.mark.parametrize(("member", "room"), sorted(EXPECTED_NEW_KIND_JOIN))
def test_may_join_new_kinds_matrix(member: str, room: str) -> None:
    expected = EXPECTED_NEW_KIND_JOIN[(member, room)]
    assert may_join(MEMBERS[member], NEW_KIND_ROOM_OBJECTS[room]) is expected


def test_who_may_hand_a_person_a_new_activation_code() -> None:
    from preau.server.directory.rules import may_issue_code

    def member(pid: str, profile: Profile, classes: frozenset[str] = frozenset(),
               admin: bool = False, school: str = "s1") -> Member:
        return Member(pid, school, profile, pid, classes=classes, is_admin=admin)

    pupil_a = member("pa", Profile.PUPIL, frozenset({"6eA"}))
    parent = member("pp", Profile.PARENT, frozenset({"6eA"}))
    teacher_a = member("ta", Profile.TEACHER, frozenset({"6eA"}))
    teacher_b = member("tb", Profile.TEACHER, frozenset({"6eB"}))
    admin = member("ad", Profile.STAFF, admin=True)
    staff = member("st", Profile.STAFF)
    elsewhere = member("ea", Profile.STAFF, admin=True, school="s2")
    allowed = {(v.id, p.id)
               for v in (pupil_a, parent, teacher_a, teacher_b, admin, staff, elsewhere)
               for p in (pupil_a, parent, teacher_a, teacher_b, admin, staff)
               if may_issue_code(v, p)}
    assert allowed == {("ta", "pa"), ("ad", "pa"), ("ad", "pp"), ("ad", "ta"), ("ad", "tb"),
                       ("ad", "st")}
