"""Deleting a document on a real server: ``DELETE /api/documents/{document}``
closes every open socket (pycrdt and stock y-websocket clients, 4403), and
afterwards every path answers as for a document that never existed — the
upgrade, the REST API, a second deletion, its notifications and its files."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import pytest
import websockets
from preau_client import PreauClient

from tests.server.attachments import samples
from tests.server.documents.conftest import Session

pytestmark = pytest.mark.slow


def _listed(notifications: dict[str, Any], document: str) -> bool:
    return any((n.get("data") or {}).get("document") == document
               for n in notifications["notifications"])


async def _notified(client: PreauClient, document: str) -> None:
    """The fan-out of the document's notification has reached ``client``."""
    for _ in range(100):
        if _listed(await client.get("/api/notifications"), document):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{document} never notified")


async def test_deleting_closes_every_socket_and_leaves_nothing(session: Session) -> None:
    camille_id = await session.person_id("Camille Martin")
    document = await session.document("Sortie au musée", readers=[camille_id])
    teacher = await session.person("Claire Lefèvre")
    lea_api = await session.person("Léa Martin")
    camille_api = await session.person("Camille Martin")
    lea = await session.synced("Léa Martin", document)
    camille = await session.synced("Camille Martin", document)
    hugo = await session.node("Hugo Bernard", document)  # a stock y-websocket provider
    lea.text.insert(0, "Rendez-vous à 9 h.")
    await hugo.wait_text("Rendez-vous à 9 h.")
    await teacher.post(f"/api/documents/{document}/versions", {"name": "v1"})
    content = samples.pdf(text=b"Plan du musee " + secrets.token_hex(8).encode())
    sheet = (await teacher.upload("plan.pdf", content, "application/pdf"))["attachment"]
    await teacher.post(f"/api/documents/{document}/attachments", {"attachments": [sheet["id"]]})
    sha = hashlib.sha256(content).hexdigest()
    blob = session.live.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
    assert blob.exists()
    for client in (lea_api, camille_api):
        await _notified(client, document)  # "document.shared"

    # Those who see it but do not manage it (its editor, its named reader)
    # are refused, as for its lock, and nothing changes.
    unknown = await lea_api.http.delete(f"/api/documents/doc-{secrets.token_hex(8)}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    for client in (lea_api, camille_api):
        refused = await client.http.delete(f"/api/documents/{document}")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    assert not lea.closed.is_set()

    deleted = await teacher.http.delete(f"/api/documents/{document}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": document, "deleted": True}

    # Every open socket closes: 4403, as a withdrawn right; y-websocket
    # takes it as final and does not come back.
    async with asyncio.timeout(5):
        await lea.closed.wait()
        await camille.closed.wait()
    assert (lea.close_code, camille.close_code) == (4403, 4403)
    [closed] = await hugo.wait_event("closed")
    assert closed["code"] == 4403
    for name in ("Léa Martin", "Claire Lefèvre"):
        with pytest.raises(websockets.InvalidStatus) as gone:
            await session.y(name, document)
        assert gone.value.response.status_code == 404

    # Every path: the answer of a document that does not exist, a second
    # deletion included.
    again = await teacher.http.delete(f"/api/documents/{document}")
    never = await teacher.http.delete(f"/api/documents/doc-{secrets.token_hex(8)}")
    assert (again.status_code, again.content) == (404, never.content)
    for path in ("", "/versions", "/export", "/history"):
        response = await teacher.http.get(f"/api/documents/{document}{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    for client in (teacher, lea_api, camille_api):
        listed = await client.get("/api/documents")
        assert document not in [d["id"] for d in listed["documents"]]
    # Its notifications are no longer listed; its file and its bytes are gone.
    for client in (lea_api, camille_api):
        assert not _listed(await client.get("/api/notifications"), document)
    download = await teacher.http.get(f"/api/attachments/{sheet['id']}")
    assert download.status_code == 404
    assert not blob.exists()
    assert len([e for e in hugo.events if e["ev"] == "closed"]) == 1


async def test_the_endpoint_is_described(session: Session) -> None:
    teacher = await session.person("Claire Lefèvre")
    described = (await teacher.get("/api/openapi.json"))["paths"]["/api/documents/{document}"]
    assert "delete" in described
    assert "get" in described
