"""Stock Yjs clients (npm ``yjs`` + ``y-websocket``) against a real server:
cursors moving without refusals, edits refused during a lock never coming
back, and a pupil removed from the class losing its documents at once.

The server runs on SQLite and on PostgreSQL where the test touches the store
(the refused clients and the removals are stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.collab.node_client import NodeYClient, require_node
from tests.collab.yclient import YClient
from tests.server.documents.conftest import Session
from tests.server.live import LiveServer
from tests.services import fresh_database

pytestmark = pytest.mark.slow

# A frame budget small enough that echoed awareness, if it were charged,
# would close a passive client within a second or two.
FRAMES_PER_S = 20
FRAMES_BURST = 40


def _start(path: Path, env: dict[str, str]) -> Iterator[LiveServer]:
    server = LiveServer(path, env=env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cursor_live(tmp_path: Path) -> Iterator[LiveServer]:
    yield from _start(tmp_path, {
        "PREAU_COLLAB_FRAMES_PER_S": str(FRAMES_PER_S),
        "PREAU_COLLAB_FRAMES_BURST": str(FRAMES_BURST),
    })


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveServer]:
    if request.param == "sqlite":
        for server in _start(tmp_path, {}):
            yield server
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    async with fresh_database(server_url) as url:
        for server in _start(tmp_path, {"PREAU_STORE_URL": url}):
            yield server


async def _session(live: LiveServer) -> Session:
    require_node()
    return Session(live)


async def _node(session: Session, name: str, document: str, *, reset: bool = False,
                synced: bool = True) -> NodeYClient:
    client = await NodeYClient.start(session.ws + "/collab", document,
                                     (await session.person(name)).token, reset=reset)
    session.nodes.append(client)
    if synced:
        await client.wait_event("synced")
    return client


async def _eventually(check: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def _contains(client: NodeYClient, *parts: str) -> bool:
    text = await client.text()
    return all(part in text for part in parts)


# -- awareness ---------------------------------------------------------------------


async def test_cursors_moving_for_a_while_cost_no_refusal_and_no_close(
    cursor_live: LiveServer,
) -> None:
    """Five stock providers move their cursors ten times a second for a few
    seconds. Each echoes every state it receives (40 frames a second here,
    twice the budget): none of that is refused or charged."""
    session = await _session(cursor_live)
    try:
        document = await session.document()
        names = ["Léa Martin", "Hugo Bernard", "Chloé Dubois", "Julien Garnier",
                 "Manon Robert"]
        clients = [await _node(session, name, document) for name in names]
        moves = await asyncio.gather(*(
            c.command("wander", timeout=30, ms=8000, every=100, name=name)
            for c, name in zip(clients, names, strict=True)))
        for reply in moves:
            assert reply["moves"] > 50
        # Everyone ends up seeing everyone's last cursor.
        last = {c.client_id: m["moves"] for c, m in zip(clients, moves, strict=True)}

        async def everyone_sees_everyone() -> bool:
            for client in clients:
                states = (await client.command("states"))["states"]
                for other, index in last.items():
                    state = states.get(str(other)) or {}
                    if state.get("cursor", {}).get("index") != index:
                        return False
            return True

        await _eventually(everyone_sees_everyone)
        for client in clients:
            assert [e for e in client.events if e["ev"] == "denied"] == []
            assert [e for e in client.events if e["ev"] == "closed"] == []
            assert len([e for e in client.events if e["ev"] == "synced"]) == 1
        # The names shown are the real ones, whatever the clients said.
        states = (await clients[0].command("states"))["states"]
        assert {s["user"]["name"] for s in states.values()} == set(names)
    finally:
        await session.close()


# -- refused edits -------------------------------------------------------------------


async def test_edits_refused_during_a_lock_never_come_back(store_live: LiveServer) -> None:
    session = await _session(store_live)
    try:
        document = await session.document()
        teacher = await session.synced("Claire Lefèvre", document)
        # Léa's client starts a new copy when a change of hers is refused (as
        # the web client does); Hugo's is a bare stock provider that does not.
        lea = await _node(session, "Léa Martin", document, reset=True)
        hugo = await _node(session, "Hugo Bernard", document)
        await lea.command("insert", index=0, text="base")
        await teacher.wait_text("base")
        await hugo.wait_text("base")
        lea_first = lea.client_id

        teacher_api = await session.person("Claire Lefèvre")
        await teacher_api.post(f"/api/documents/{document}/lock")
        for client in (lea, hugo):
            denied = await client.wait_event("denied")
            assert denied[0]["reason"] == "forbidden: read-only from now on"

        await lea.command("insert", index=0, text="PENDANT-LEA ")
        await hugo.command("insert", index=4, text=" PENDANT-HUGO")
        for client in (lea, hugo):
            denied = await client.wait_event("denied", count=2)
            assert denied[1]["reason"] == (
                "forbidden: read-only: this change was not saved [refused-edit]")
        # Léa's client dropped its copy and took the server's.
        await lea.wait_event("reset")
        await lea.wait_event("synced", count=2)
        await lea.wait_text("base")
        assert lea.client_id != lea_first

        await teacher_api.post(f"/api/documents/{document}/unlock")
        await lea.command("insert", index=4, text=" + Léa")
        await teacher.wait_text("base + Léa")
        await _eventually(lambda: _contains(hugo, "PENDANT-HUGO", " + Léa"))  # his copy has it
        await hugo.command("insert", index=0, text="APRÈS-HUGO ")
        denied = await hugo.wait_event("denied", count=3)
        assert denied[2]["reason"].startswith(
            "forbidden: this copy holds a change that was refused")
        assert denied[2]["reason"].endswith("[refused-edit]")

        # Reconnecting with the refused change in its copy: refused, not merged.
        await hugo.command("disconnect")
        await hugo.command("connect")
        await hugo.wait_event("synced", count=2)
        await hugo.wait_event("denied", count=4)
        teacher.text.insert(0, "Titre: ")
        await lea.wait_text("Titre: base + Léa")
        # He still receives everyone's edits; his own stay with him.
        await _eventually(lambda: _contains(hugo, "Titre: ", "APRÈS-HUGO", "PENDANT-HUGO"))

        # A new copy of Hugo's converges with everyone; nothing refused is stored.
        fresh_hugo = await _node(session, "Hugo Bernard", document)
        late = await session.synced("Julien Garnier", document)
        expected = "Titre: base + Léa"
        await fresh_hugo.wait_text(expected)
        assert str(late.text) == expected
        assert str(teacher.text) == expected
        await lea.wait_text(expected)
        exported = await teacher_api.get(f"/api/documents/{document}/export")
        assert exported["content"] == expected
        await fresh_hugo.command("insert", index=len(expected), text=" (Hugo)")
        await teacher.wait_text(expected + " (Hugo)")
        await lea.wait_text(expected + " (Hugo)")
        assert [e for e in fresh_hugo.events if e["ev"] == "denied"] == []
    finally:
        await session.close()


# -- removal from the class room ------------------------------------------------------


async def _class_room(session: Session) -> str:
    rooms = (await (await session.person("Claire Lefèvre")).me())["rooms"]
    return str(next(r["id"] for r in rooms if r["name"] == "6eA"))


async def test_a_pupil_removed_from_the_class_loses_its_documents_at_once(
    store_live: LiveServer,
) -> None:
    session = await _session(store_live)
    try:
        document = await session.document()
        teacher = await session.person("Claire Lefèvre")
        hugo_api = await session.person("Hugo Bernard")
        hugo_id = await session.person_id("Hugo Bernard")
        room = await _class_room(session)
        writer = await session.synced("Léa Martin", document)
        hugo = await _node(session, "Hugo Bernard", document)
        plain = await session.synced("Hugo Bernard", document)
        writer.text.insert(0, "avant")
        await hugo.wait_text("avant")

        await teacher.post(f"/api/rooms/{room}/members/{hugo_id}/remove")
        # Open sockets are cut at once.
        async with asyncio.timeout(5):
            await plain.closed.wait()
        assert plain.close_code == 4403
        closed = await hugo.wait_event("closed")
        assert closed[0]["code"] == 4403
        writer.text.insert(5, " secret")
        # Every path: the upgrade, the metadata, the list, the export, the versions.
        with pytest.raises(websockets.InvalidStatus) as refused:
            await YClient.connect(session.ws, document, hugo_api.token)
        assert refused.value.response.status_code == 404
        for path in (f"/api/documents/{document}", f"/api/documents/{document}/export",
                     f"/api/documents/{document}/versions"):
            response = await hugo_api.http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        listed = await hugo_api.get("/api/documents")
        assert document not in [d["id"] for d in listed["documents"]]

        # y-websocket (3.1) takes a 44xx close as final: no retry meanwhile.
        assert len([e for e in hugo.events if e["ev"] == "closed"]) == 1

        # Re-admitted: everything comes back (the app connects again).
        await teacher.post(f"/api/rooms/{room}/members/{hugo_id}/readmit")
        await hugo.command("connect")
        await hugo.wait_event("synced", count=2)
        await hugo.wait_text("avant secret")
        assert (await hugo_api.get(f"/api/documents/{document}"))["access"] == "write"
        listed = await hugo_api.get("/api/documents")
        assert document in [d["id"] for d in listed["documents"]]
        await hugo.command("insert", index=0, text="Hugo: ")
        await writer.wait_text("Hugo: avant secret")
    finally:
        await session.close()
