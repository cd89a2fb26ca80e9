"""The documents REST API on a real server: create and list, group and readers,
versions and restore (reaching live clients), history, export."""

from __future__ import annotations

import asyncio

import pytest
from preau_client import PreauError
from pycrdt import Map

from tests.server.documents.conftest import Session

pytestmark = pytest.mark.slow


async def test_create_list_and_who_sees_what(session: Session) -> None:
    teacher = await session.person("Claire Lefèvre")
    klass = await session.class_id()
    lea_id = await session.person_id("Léa Martin")
    parent_id = await session.person_id("Camille Martin")
    created = await teacher.post("/api/documents", {
        "class": klass, "title": "Carte mentale", "kind": "map",
        "editors": [lea_id], "readers": [parent_id],
    })
    assert created["role"] == "moderator"
    assert created["editors"] == [lea_id]
    assert created["readers"] == [parent_id]

    lea = await session.person("Léa Martin")
    listed = {d["id"]: d for d in (await lea.get("/api/documents"))["documents"]}
    assert listed[created["id"]]["role"] == "editor"
    assert "editors" not in listed[created["id"]]  # only moderators see the lists
    parent = await session.person("Camille Martin")
    seen = {d["id"]: d for d in (await parent.get("/api/documents"))["documents"]}
    assert seen[created["id"]]["access"] == "read"
    hugo = await session.person("Hugo Bernard")  # same class, not in the group
    assert created["id"] not in {d["id"] for d in (await hugo.get("/api/documents"))["documents"]}

    # Pupils do not create documents; nobody names people outside their reach.
    with pytest.raises(PreauError) as refused:
        await lea.post("/api/documents", {"class": klass, "title": "x"})
    assert refused.value.code == "forbidden"
    ines_id = await session.person_id("Inès Petit")  # 6eB: not a pupil of this class
    with pytest.raises(PreauError) as wrong:
        await teacher.post("/api/documents", {"class": klass, "title": "x",
                                              "editors": [ines_id]})
    assert wrong.value.code == "bad_request"
    with pytest.raises(PreauError) as unknown_field:
        await teacher.post("/api/documents", {"class": klass, "title": "x", "evil": 1})
    assert unknown_field.value.code == "bad_request"
    with pytest.raises(PreauError) as not_teacher:
        await lea.post(f"/api/documents/{created['id']}/lock")
    assert not_teacher.value.code == "forbidden"


async def test_versions_restore_history_and_export(session: Session) -> None:
    document = await session.document("Compte rendu")
    teacher = await session.person("Claire Lefèvre")
    lea = await session.synced("Léa Martin", document)
    watcher = await session.synced("Hugo Bernard", document)
    lea.text.insert(0, "Première version.")
    await watcher.wait_text("Première version.")

    version = await teacher.post(f"/api/documents/{document}/versions", {"name": "v1"})
    lea.text.insert(len(lea.text), " Ajout regretté.")
    await watcher.wait_text("Première version. Ajout regretté.")
    versions = (await teacher.get(f"/api/documents/{document}/versions"))["versions"]
    assert [v["name"] for v in versions] == ["v1"]

    restored = await teacher.post(
        f"/api/documents/{document}/versions/{version['id']}/restore")
    assert restored["seq"] > 0
    # The restore is an edit like any other: every open client receives it.
    await watcher.wait_text("Première version.")
    await lea.wait_text("Première version.")

    history = (await teacher.get(f"/api/documents/{document}/history"))["edits"]
    names = [e["name"] for e in history]
    assert "Léa Martin" in names
    assert "Claire Lefèvre" in names  # the restore is hers
    text = await teacher.http.get(f"/api/documents/{document}/export",
                                  params={"format": "text"})
    assert text.text == "Première version."
    assert text.headers["content-type"].startswith("text/plain")
    hugo = await session.person("Hugo Bernard")
    with pytest.raises(PreauError) as refused:
        await hugo.get(f"/api/documents/{document}/history")
    assert refused.value.code == "forbidden"
    exported = await hugo.get(f"/api/documents/{document}/export")
    assert exported["content"] == "Première version."
    with pytest.raises(PreauError) as bad:
        await hugo.get(f"/api/documents/{document}/export", format="pdf")
    assert bad.value.code == "bad_request"


async def test_map_documents_export_as_json(session: Session) -> None:
    teacher = await session.person("Claire Lefèvre")
    created = await teacher.post("/api/documents", {"class": await session.class_id(),
                                                    "title": "Idées", "kind": "map"})
    client = await session.synced("Claire Lefèvre", created["id"])
    ideas = client.doc.get("content", type=Map)
    ideas["racine"] = {"texte": "Volcans", "enfants": ["lave", "cendres"]}
    for _ in range(50):  # sent, then stored: poll the export
        exported = await teacher.get(f"/api/documents/{created['id']}/export")
        if exported["content"]:
            break
        await asyncio.sleep(0.05)
    expected = {"racine": {"texte": "Volcans", "enfants": ["lave", "cendres"]}}
    assert exported["content"] == expected, client.denied
