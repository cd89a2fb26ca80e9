"""The communication-rule editor of the admin console (issue 19) on two
nodes sharing a store and a bus: the school's groups and links with the
defaults marked; only its admins (anyone else, another school, an unknown
or foreign group: ``not_found``); every change audited; and a rule changed
on node A takes effect at once on node B, on every path a directory change
reaches: the directory, conversations (closed, revoked on live sockets),
study-group calls (the seat cut), documents' named readers, while class
rooms (which follow classes, not rules) stay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from preau.server.directory.model import Member, Profile, profile_group
from preau.server.documents.model import DocumentKind
from preau.server.errors import ErrorCode, PreauError
from preau.server.store.records import AuditAction, AuditQuery
from tests.multinode.cluster import wait_until
from tests.server.twonodes import Nodes, Recorder


def admin(nodes: Nodes) -> Member:
    return nodes.member(nodes.a, "Anne Roux")


def class_id(nodes: Nodes, name: str) -> str:
    view = next(iter(nodes.a.directory._schools.values()))
    return next(c.id for c in view.classes.values() if c.name == name)


async def audited(nodes: Nodes, action: AuditAction) -> list[dict[str, Any]]:
    entries = await nodes.a.store.audit_entries(admin(nodes).school_id,
                                                AuditQuery(action=action))
    return [e.details for e in entries]


async def frame(recorder: Recorder, name: str, room: str | None = None) -> dict[str, Any]:
    """The first frame ``name`` (about ``room``); the timeout only bounds a failure."""
    async with asyncio.timeout(5):
        while True:
            for found in recorder.frames:
                if found.get("ev") == name and (room is None or found.get("room") == room):
                    return found
            recorder.arrived.clear()
            await recorder.arrived.wait()


async def eventually(check: Any) -> None:
    """Until node B has reloaded (the bus delivers in its own task); the
    bound only ends a failing test."""
    await wait_until(check, 5, interval=0.01)


async def test_the_rules_shown_are_the_french_defaults(nodes: Nodes) -> None:
    anne = admin(nodes)
    shown = await nodes.a.console.rules(anne, anne.school_id)
    assert shown["is_default"] is True
    assert shown["missing_defaults"] == []
    assert all(link["default"] for link in shown["links"])
    groups = {g["id"]: g for g in shown["groups"]}
    six_a = class_id(nodes, "6eA")
    assert groups[profile_group(six_a, Profile.PARENT)] == {
        "id": profile_group(six_a, Profile.PARENT), "scope": "class", "scope_id": six_a,
        "scope_name": "6eA", "profile": "parent"}
    links = {(link["from"], link["to"]) for link in shown["links"]}
    school = anne.school_id
    # Staff with everyone; teachers with pupils and teachers; a class's
    # parents with its teachers; a class's pupils among themselves; never
    # parents among themselves nor pupils across classes.
    assert (profile_group(school, Profile.STAFF), profile_group(school, Profile.PARENT)) in links
    assert (profile_group(school, Profile.PUPIL), profile_group(school, Profile.TEACHER)) in links
    assert (profile_group(six_a, Profile.PARENT), profile_group(six_a, Profile.TEACHER)) in links
    assert (profile_group(six_a, Profile.PUPIL), profile_group(six_a, Profile.PUPIL)) in links
    assert (profile_group(school, Profile.PARENT), profile_group(school, Profile.PARENT)) \
        not in links
    assert (profile_group(school, Profile.PUPIL), profile_group(school, Profile.PUPIL)) \
        not in links


async def test_only_the_schools_admins_and_foreign_groups_are_unknown(nodes: Nodes) -> None:
    console, anne = nodes.a.console, admin(nodes)
    school = anne.school_id
    six_a = class_id(nodes, "6eA")
    pupils = profile_group(six_a, Profile.PUPIL)
    # The admin of another school: the same answer as for no school at all.
    elsewhere = Member(id="p-elsewhere", school_id="s-elsewhere", profile=Profile.STAFF,
                       display_name="Bruno Vert", is_admin=True)
    viewers = [nodes.member(nodes.a, n) for n in ("Claire Lefèvre", "Léa Martin",
                                                  "Camille Martin")]
    for viewer in [*viewers, elsewhere]:
        for call in (console.rules(viewer, school),
                     console.set_link(viewer, school, pupils, pupils, False),
                     console.set_link(viewer, school, pupils, pupils, True),
                     console.reset_rules(viewer, school)):
            with pytest.raises(PreauError) as refused:
                await call
            assert (refused.value.code, refused.value.message) == (
                ErrorCode.NOT_FOUND, "no such school")
    with pytest.raises(PreauError) as unknown_school:
        await console.rules(anne, "s-nonexistent")
    assert (unknown_school.value.code, unknown_school.value.message) == (
        ErrorCode.NOT_FOUND, "no such school")
    # A group of another school, of no class, or a staff group of a class
    # (staff act school-wide): all unknown alike.
    for bad in ("s-elsewhere/pupil", "no-such-class/teacher", f"{six_a}/staff", "x"):
        for present in (True, False):
            with pytest.raises(PreauError) as group:
                await console.set_link(anne, school, bad, pupils, present)
            assert (group.value.code, group.value.message) == (
                ErrorCode.NOT_FOUND, "no such group")
    assert await audited(nodes, AuditAction.RULE_ADD) == []
    assert await audited(nodes, AuditAction.RULE_REMOVE) == []


async def test_a_rule_change_takes_effect_at_once_on_every_path_of_the_other_node(
    nodes: Nodes,
) -> None:
    a, b = nodes.a, nodes.b
    anne = admin(nodes)
    school = anne.school_id
    six_a = class_id(nodes, "6eA")
    lea, hugo = nodes.member(a, "Léa Martin"), nodes.member(b, "Hugo Bernard")
    camille, garnier = nodes.member(a, "Camille Martin"), nodes.member(b, "Julien Garnier")
    claire, julien_b = nodes.member(a, "Claire Lefèvre"), nodes.member(b, "Julien Bernard")

    # Before: conversations, a study-group call, live sockets on node B.
    pupils_talk, _ = await a.chat.open_conversation(lea, [hugo.id])
    parent_talk, _ = await a.chat.open_conversation(camille, [garnier.id])
    class_room = await nodes.room(b, "6eA")
    conn_h, rec_h = nodes.connect(b, hugo)
    conn_g, rec_g = nodes.connect(b, garnier)
    for conn, room in ((conn_h, pupils_talk.id), (conn_h, class_room),
                       (conn_g, parent_talk.id)):
        await b.hub.subscribe(conn, room, None, lambda fields: None)
    call = await a.calls.create(lea, await nodes.room(a, "6eA"), "Exposé", [hugo.id], None)
    conn_l, _ = nodes.connect(a, lea)
    await a.calls.join(conn_l, call.id)
    _, seat_h = await b.calls.join(conn_h, call.id)
    assert await b.directory.reachable(camille, garnier.id) is not None

    # 6eA's pupils no longer among themselves; its parents and teachers
    # no longer with each other (both ways).
    pupils = profile_group(six_a, Profile.PUPIL)
    parents, teachers = profile_group(six_a, Profile.PARENT), profile_group(six_a, Profile.TEACHER)
    for link in ((pupils, pupils), (parents, teachers), (teachers, parents)):
        assert await a.console.set_link(anne, school, *link, False) == {"changed": True}

    # Node B, at once: the pupils' conversation is gone for both (a minor's
    # words stay with who may still reach that minor), revoked on the live
    # socket; the parent-teacher one is closed, read-only for both.
    await frame(rec_h, "room.revoked", pupils_talk.id)
    await frame(rec_g, "conversation.closed", parent_talk.id)
    seen = await b.directory.room(pupils_talk.id)
    assert seen is not None
    assert (seen.closed, seen.members) == (True, frozenset())
    seen = await b.directory.room(parent_talk.id)
    assert seen is not None
    assert (seen.closed, seen.members) == (True, {camille.id, garnier.id})
    # The study group: Hugo may no longer reach Léa, who opened it.
    left = await frame(rec_h, "call.left")
    assert (left["peer"], left["reason"]) == (seat_h.peer, "revoked")
    # The directory and new conversations.
    fresh = await b.directory.member(camille.id)
    assert fresh is not None
    assert await b.directory.reachable(fresh, garnier.id) is None
    with pytest.raises(PreauError) as refused:
        await b.chat.open_conversation(fresh, [garnier.id])
    with pytest.raises(PreauError) as unknown:
        await b.chat.open_conversation(fresh, ["p-nobody"])
    assert (refused.value.code, refused.value.message) == (unknown.value.code,
                                                           unknown.value.message)
    # A document's named readers are within the teacher's reach: no longer 6eA's parents.
    with pytest.raises(PreauError) as reader:
        await b.documents.create(claire, six_a, "Sortie", DocumentKind.TEXT,
                                 readers=[camille.id])
    assert reader.value.code is ErrorCode.BAD_REQUEST
    # The class room follows classes, not rules: Hugo keeps it.
    assert class_room in conn_h.rooms
    assert class_room in {r.id for r in await b.directory.rooms_of(hugo)}
    removed = await audited(nodes, AuditAction.RULE_REMOVE)
    assert len(removed) == 3
    assert {"from": parents, "to": teachers,
            "between": "parent of 6eA → teacher of 6eA"} in removed
    # Already so: nothing written, nothing audited.
    assert await a.console.set_link(anne, school, pupils, pupils, False) == {"changed": False}
    assert len(await audited(nodes, AuditAction.RULE_REMOVE)) == 3

    # A link the defaults do not have: the school's parents among themselves.
    everyone = profile_group(school, Profile.PARENT)
    assert await a.console.set_link(anne, school, everyone, everyone, True) == {"changed": True}
    assert len(await audited(nodes, AuditAction.RULE_ADD)) == 1

    async def reaches(viewer: Member, other: Member) -> bool:
        fresh = await b.directory.member(viewer.id)
        return fresh is not None and await b.directory.reachable(fresh, other.id) is not None

    await eventually(lambda: reaches(camille, julien_b))
    shown = await a.console.rules(anne, school)
    assert shown["is_default"] is False
    assert {"from": everyone, "to": everyone, "default": False} in shown["links"]
    assert {"from": parents, "to": teachers} in shown["missing_defaults"]

    # Back to the defaults: the rights come back, conversations closed stay closed.
    assert await a.console.reset_rules(anne, school) == {"added": 3, "removed": 1}
    await eventually(lambda: reaches(camille, garnier))
    assert not await reaches(camille, julien_b)
    assert (await a.console.rules(anne, school))["is_default"] is True
    assert await audited(nodes, AuditAction.RULES_RESET) == [{"added": 3, "removed": 1}]
    assert await a.console.reset_rules(anne, school) == {"added": 0, "removed": 0}
    assert len(await audited(nodes, AuditAction.RULES_RESET)) == 1
    seen = await b.directory.room(parent_talk.id)
    assert seen is not None
    assert seen.closed
