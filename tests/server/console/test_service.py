"""The admin console's service (preau/server/console/service.py) on two nodes
sharing a store and a bus: every action by the school's admin, audited; every
refusal (anyone else, ids outside the school, bad values); a moved pupil's
live rights follow at once on the other node; activation letters whose codes
open the accounts; an import previewed (nothing written) then applied."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pypdf
import pytest

from preau.server.directory.model import Member
from preau.server.errors import ErrorCode, PreauError
from preau.server.store.records import AuditAction, AuditQuery
from tests.server.twonodes import Nodes, two_nodes

PASSWORD = "Cartable-Bleu-2027"


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    async with two_nodes(tmp_path) as pair:
        yield pair


def admin(nodes: Nodes) -> Member:
    return nodes.member(nodes.a, "Anne Roux")


def school(nodes: Nodes) -> str:
    return admin(nodes).school_id


async def audited(nodes: Nodes, action: AuditAction) -> int:
    entries = await nodes.a.store.audit_entries(school(nodes), AuditQuery(action=action))
    return len(entries)


def class_id(nodes: Nodes, node_name: str = "a", name: str = "6eA") -> str:
    node = nodes.a if node_name == "a" else nodes.b
    view = next(iter(node.directory._schools.values()))
    return next(c.id for c in view.classes.values() if c.name == name)


async def test_only_the_schools_admins_and_out_of_reach_is_not_found(nodes: Nodes) -> None:
    console = nodes.a.console
    sid, lea = school(nodes), nodes.member(nodes.a, "Léa Martin")
    for who in ("Claire Lefèvre", "Léa Martin", "Camille Martin"):
        viewer = nodes.member(nodes.a, who)
        calls = [
            console.people(viewer, sid), console.classes(viewer, sid),
            console.move(viewer, sid, lea.id, [class_id(nodes, name="6eB")]),
            console.close(viewer, sid, lea.id, None),
            console.edit(viewer, sid, lea.id, first_name="X"),
            console.letters(viewer, sid, people=[lea.id], class_id=None),
            console.preview(viewer, sid, [("", b"id;profile;nom;prenom\n")], False),
            console.apply(viewer, sid, [("", b"id;profile;nom;prenom\n")], False),
        ]
        for call in calls:
            with pytest.raises(PreauError) as refused:
                await call
            assert refused.value.code is ErrorCode.NOT_FOUND
    anne = admin(nodes)
    for call in (console.people(anne, "no-such-school"),
                 console.move(anne, sid, "no-such-person", [class_id(nodes)]),
                 console.move(anne, sid, lea.id, ["no-such-class"]),
                 console.letters(anne, sid, people=["no-such-person"], class_id=None)):
        with pytest.raises(PreauError) as unknown:
            await call
        assert unknown.value.code is ErrorCode.NOT_FOUND


async def test_people_with_search_and_who_has_not_activated(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    everyone = await nodes.a.console.people(anne, sid)
    assert len(everyone) == 35  # 15 pupils, 15 parents, 4 teachers, 1 admin
    [lea] = await nodes.a.console.people(anne, sid, query="lea MARTIN")  # no accents, any case
    assert lea["classes"] == [{"id": class_id(nodes), "name": "6eA"}]
    assert [g["name"] for g in lea["guardians"]] == ["Camille Martin"]
    assert not lea["activated"]
    assert lea["code_expires"]
    pupils = await nodes.a.console.people(anne, sid, class_id=class_id(nodes), profile="pupil")
    assert len(pupils) == 6
    classes = await nodes.a.console.classes(anne, sid)
    assert {c["name"]: (c["pupils"], c["teachers"], c["pending"]) for c in classes} == {
        "6eA": (6, 2, 6), "6eB": (6, 2, 6), "MS": (3, 1, 3)}


async def test_a_moved_pupil_s_rights_follow_at_once_on_the_other_node(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    lea = nodes.member(nodes.b, "Léa Martin")
    old_room, new_room = await nodes.room(nodes.b, "6eA"), await nodes.room(nodes.b, "6eB")
    conn, recorder = nodes.connect(nodes.b, lea)
    await nodes.b.hub.subscribe(conn, old_room, None, lambda fields: None)
    await nodes.a.console.move(anne, sid, lea.id, [class_id(nodes, name="6eB")])
    async with asyncio.timeout(5):
        while not any(f.get("ev") == "room.revoked" and f.get("room") == old_room
                      for f in recorder.frames):
            recorder.arrived.clear()
            await recorder.arrived.wait()
    moved = await nodes.b.directory.member(lea.id)
    assert moved is not None
    assert moved.classes == {class_id(nodes, "b", "6eB")}
    rooms = {r.id for r in await nodes.b.directory.rooms_of(moved)}
    assert new_room in rooms
    assert old_room not in rooms
    # Her parent follows her (a parent's classes are their children's).
    camille = await nodes.b.directory.member(nodes.member(nodes.b, "Camille Martin").id)
    assert camille is not None
    assert camille.classes == moved.classes
    assert await audited(nodes, AuditAction.PERSON_MOVE) == 1
    with pytest.raises(PreauError) as two:
        await nodes.a.console.move(
            anne, sid, lea.id, [class_id(nodes), class_id(nodes, "a", "6eB")])
    assert two.value.code is ErrorCode.BAD_REQUEST


async def test_create_edit_link_and_close(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    created = await nodes.a.console.create(
        anne, sid, profile="pupil", first_name="Noé", last_name="Arnaud",
        class_ids=[class_id(nodes)], children=[], email=None, admin=False)
    assert created["login"].startswith("noe.arnaud")
    session = await nodes.a.auth.activate(created["login"], created["code"], PASSWORD,
                                          "1.2.3.4", "bearer")
    async with asyncio.timeout(5):  # node b reloads when the bus tells it
        while (noe := await nodes.b.directory.member(created["id"])) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert noe.classes == {class_id(nodes, "b")}
    parent = await nodes.a.console.create(
        anne, sid, profile="parent", first_name="Inès", last_name="Arnaud",
        class_ids=[], children=[created["id"]], email="ines@famille.example", admin=False)
    [card] = await nodes.a.console.people(anne, sid, query="Inès Arnaud")
    assert card["email"] == "ines@famille.example"
    assert [c["id"] for c in card["children"]] == [created["id"]]
    with pytest.raises(PreauError) as child_mail:
        await nodes.a.console.edit(anne, sid, created["id"], email="noe@exemple.fr")
    assert child_mail.value.code is ErrorCode.BAD_REQUEST
    with pytest.raises(PreauError) as bad_mail:
        await nodes.a.console.edit(anne, sid, parent["id"], email="pas une adresse")
    assert bad_mail.value.code is ErrorCode.BAD_REQUEST
    await nodes.a.console.edit(anne, sid, parent["id"], last_name="Arnaud-Petit", email="")
    [card] = await nodes.a.console.people(anne, sid, query="Arnaud-Petit")
    assert card["email"] is None
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.console.set_children(anne, sid, parent["id"], [created["id"], lea.id])
    both = await nodes.a.directory.member(parent["id"])
    assert both is not None
    assert both.children == {created["id"], lea.id}
    # Closing: sessions end (sockets too), the person leaves the directory.
    # Her socket on node B, under her real session, closes 4003 (account
    # closed), not 4001 (log in again): on node B the revocation's notice
    # comes before the reload of the school (an outside probe on two nodes).
    conn, _ = nodes.connect(nodes.b, noe, session.session.token_hash)
    reload = nodes.b.directory.reload

    async def slow_reload(school_id: str) -> None:  # a store farther away
        await asyncio.sleep(0.3)
        await reload(school_id)

    nodes.b.directory.reload = slow_reload  # type: ignore[method-assign]
    await nodes.a.console.close(anne, sid, created["id"], "a quitté l'établissement")
    assert not await nodes.a.auth.alive(session.session.token_hash)
    async with asyncio.timeout(5):
        while not conn.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert conn.close_code == 4003
    nodes.b.directory.reload = reload  # type: ignore[method-assign]
    async with asyncio.timeout(5):  # node B's slow reload ends too
        while await nodes.b.directory.member(created["id"]) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert await nodes.a.directory.member(created["id"]) is None
    with pytest.raises(PreauError) as self_close:
        await nodes.a.console.close(anne, sid, anne.id, None)
    assert self_close.value.code is ErrorCode.BAD_REQUEST
    for action, count in ((AuditAction.PERSON_CREATE, 2), (AuditAction.PERSON_EDIT, 1),
                          (AuditAction.PARENT_LINK, 1), (AuditAction.PERSON_CLOSE, 1)):
        assert await audited(nodes, action) == count, action


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def test_a_class_s_letters_hold_codes_that_open_the_accounts(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    pending = await nodes.a.console.people(anne, sid, class_id=class_id(nodes), pending_only=True)
    pdf = await nodes.a.console.letters(anne, sid, people=[], class_id=class_id(nodes))
    text = pdf_text(pdf)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 12  # six pupils, six parents
    assert "Premiers pas" in text
    assert nodes.a.settings.public_url in text
    found = dict(re.findall(r"Identifiant : (\S+)\s+Code d'activation : ([A-Z0-9-]{14})", text))
    assert set(found) == {p["login"] for p in pending if p["profile"] in ("pupil", "parent")}
    # Every code works (the import's earlier ones no longer do).
    for login, code in found.items():
        await nodes.a.auth.activate(login, code, PASSWORD, "1.2.3.4", "bearer")
    assert await audited(nodes, AuditAction.ACCOUNT_NEW_CODE) == 12
    # Now that they activated, a class's letters have nobody left to write to.
    with pytest.raises(PreauError) as nobody:
        await nodes.a.console.letters(anne, sid, people=[], class_id=class_id(nodes))
    assert nobody.value.code is ErrorCode.BAD_REQUEST


WINDOWS_CSV = (
    "identifiant;profil;nom;prénom;classe;parent_de;admin\r\n"
    "E001;Élève;Martin;Léa;6e B;;\r\n"          # moved from 6eA (written "6e B")
    "N001;élève;Hérault;Maëlle;5ème A;;\r\n"    # new, new class 5eA
    "N002;Responsable légal 1;Hérault;Gaëlle;;N001;\r\n"
    "N003;inconnu;Dupré;Zoé;6eA;;\r\n"          # unknown profile
    "N004;élève;;Théo;6eA;;\r\n"                # no last name
    "N005;parent;Rivière;Anaïs;;X999;\r\n"      # unknown child
).encode("cp1252")


async def test_an_import_is_previewed_then_applied(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    preview = await nodes.a.console.preview(anne, sid, [("", WINDOWS_CSV)], False)
    assert preview.encoding == "cp1252"
    assert [c["name"] for c in preview.created] == ["Maëlle Hérault", "Gaëlle Hérault"]
    assert [(m["name"], m["from"], m["classes"]) for m in preview.moved] == [
        ("Léa Martin", ["6eA"], ["6eB"])]
    assert [(r["line"], r["message_fr"]) for r in preview.rejected] == [
        (5, "ligne 5, colonne « profil » : profil inconnu « inconnu » (élève, parent, "
            "enseignant, personnel)"),
        (6, "ligne 6, colonne « nom » : le nom et le prénom sont obligatoires (100 "
            "caractères au plus)"),
        (7, "ligne 7, colonne « parent_de » : enfant(s) inconnu(s) : X999")]
    assert preview.closed == []
    assert not preview.refused
    # Nothing written by the preview.
    assert len(await nodes.a.console.people(anne, sid)) == 35
    rollover = await nodes.a.console.preview(anne, sid, [("", WINDOWS_CSV)], True)
    assert rollover.refused
    assert len(rollover.closed) == 34  # all but Léa
    applied = await nodes.a.console.apply(anne, sid, [("", WINDOWS_CSV)], False)
    assert (applied["created"], applied["updated"], applied["rejected"]) == (2, 1, 3)
    lea_id, moved_to = nodes.member(nodes.b, "Léa Martin").id, class_id(nodes, "b", "6eB")
    async with asyncio.timeout(5):  # node b reloads when the bus tells it
        while (await nodes.b.directory.member(lea_id)).classes != {moved_to}:  # type: ignore[union-attr]  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert len(await nodes.b.console.people(anne, sid)) == 37
    assert await audited(nodes, AuditAction.DIRECTORY_IMPORT) == 1
    with pytest.raises(PreauError) as refused:
        await nodes.a.console.apply(anne, sid, [("", WINDOWS_CSV)], True)
    assert refused.value.code is ErrorCode.BAD_REQUEST


async def test_a_class_and_a_group_created_with_their_rooms(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    made = await nodes.a.console.create_class(anne, sid, "5ème  c", "class")
    assert made["name"] == "5eC"
    group = await nodes.a.console.create_class(anne, sid, "LV2  espagnol", "group")
    assert group["name"] == "LV2 espagnol"
    classes = {c["name"]: c["kind"] for c in await nodes.a.console.classes(anne, sid)}
    assert classes["5eC"] == "class"
    assert classes["LV2 espagnol"] == "group"
    view = await nodes.a.directory.school(sid)
    assert view is not None
    assert {r.name for r in view.rooms.values() if r.class_id} >= {"5eC", "LV2 espagnol"}
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.console.move(anne, sid, lea.id, [made["id"]], [group["id"]])
    await nodes.a.console.move(anne, sid, lea.id, [class_id(nodes, name="6eB")])  # keeps groups
    moved = await nodes.a.directory.member(lea.id)
    assert moved is not None
    assert moved.classes == {class_id(nodes, name="6eB"), group["id"]}
    for call, code in ((nodes.a.console.create_class(anne, sid, "5eC", "class"), "conflict"),
                       (nodes.a.console.create_class(anne, sid, "x" * 41, "group"),
                        "bad_request"),
                       (nodes.a.console.move(anne, sid, lea.id, [group["id"]]), "bad_request"),
                       (nodes.a.console.create_class(nodes.member(nodes.a, "Claire Lefèvre"),
                                                     sid, "3eA", "class"), "not_found")):
        with pytest.raises(PreauError) as refused:
            await call
        assert refused.value.code.value == code
    assert await audited(nodes, AuditAction.CLASS_CREATE) == 2


async def test_no_letter_for_those_who_sign_in_through_the_portal(nodes: Nodes) -> None:
    anne, sid = admin(nodes), school(nodes)
    nodes.a.auth.password_allowed = lambda _uai, profile: profile != "parent"
    pdf = await nodes.a.console.letters(anne, sid, people=[], class_id=class_id(nodes))
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 6  # the pupils only
    with pytest.raises(PreauError) as portal:
        await nodes.a.console.letters(
            anne, sid, people=[nodes.member(nodes.a, "Camille Martin").id], class_id=None)
    assert portal.value.code is ErrorCode.BAD_REQUEST


async def test_several_files_are_previewed_and_applied_as_one(nodes: Nodes) -> None:
    from tests.server.directory.test_several import PARENTS_CSV, PUPILS_CSV, TEACHERS_CSV

    anne, sid = admin(nodes), school(nodes)
    files = [("eleves.csv", PUPILS_CSV), ("parents.csv", PARENTS_CSV),
             ("personnels.csv", TEACHERS_CSV)]
    preview = await nodes.a.console.preview(anne, sid, files, False)
    assert [(f["name"], f["encoding"], f["people"]) for f in preview.files] == [
        ("eleves.csv", "cp1252", 2), ("parents.csv", "utf-8", 2),
        ("personnels.csv", "utf-8-sig", 2)]
    assert sorted(c["name"] for c in preview.created) == [
        "Anne Roux", "Claire Lefèvre", "Gaëlle Hérault", "Maëlle Hérault", "Noël Bézier"]
    # One report, file by file: the unknown child is found across the files.
    assert [(r["file"], r["line"], r["field"]) for r in preview.rejected] == [
        ("eleves.csv", 4, "nom"), ("parents.csv", 3, "parent_de"),
        ("parents.csv", 4, "identifiant")]
    assert preview.rejected[1]["message_fr"] == \
        "parents.csv, ligne 3, colonne « parent_de » : enfant(s) inconnu(s) : X9"
    applied = await nodes.a.console.apply(anne, sid, files, False)
    assert (applied["created"], applied["rejected"]) == (5, 3)
    assert [r["file"] for r in applied["rejected_rows"]] == [
        "eleves.csv", "parents.csv", "parents.csv"]
    entries = await nodes.a.store.audit_entries(sid, AuditQuery(
        action=AuditAction.DIRECTORY_IMPORT))
    assert entries[0].details["files"] == ["eleves.csv", "parents.csv", "personnels.csv"]
    people = {p["name"]: p for p in await nodes.a.console.people(anne, sid, query="hérault")}
    assert [c["name"] for c in people["Gaëlle Hérault"]["children"]] == ["Maëlle Hérault"]
