"""``/collab/{document}`` on a real server process, with real Yjs clients.

Stock Yjs in Node (npm ``yjs`` + ``y-websocket``'s ``WebsocketProvider``)
edits alongside pycrdt clients (tests/collab/yclient.py); rights are checked
on the upgrade and re-checked live.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from pycrdt import Doc, Text

from preau.collab import codec, updates
from tests.collab.yclient import YClient
from tests.server.documents.conftest import MAX_UPDATE, Session

pytestmark = pytest.mark.slow


async def test_yjs_and_pycrdt_clients_converge(session: Session) -> None:
    document = await session.document()
    teacher = await session.synced("Claire Lefèvre", document)
    lea = await session.node("Léa Martin", document)
    hugo = await session.node("Hugo Bernard", document)

    teacher.text.insert(0, "Titre. ")
    await lea.wait_text("Titre. ")
    await lea.command("insert", index=7, text="Léa écrit.")
    await hugo.command("insert", index=0, text="[Hugo] ")
    teacher.text.insert(len(teacher.text), " Fin.")

    final = None
    async with asyncio.timeout(10):
        while True:
            texts = {str(teacher.text), await lea.text(), await hugo.text()}
            if len(texts) == 1:
                final = texts.pop()
                break
            await asyncio.sleep(0.05)
    for part in ("Titre.", "Léa écrit.", "[Hugo]", "Fin."):
        assert part in final
    # What the server stored is what everyone sees.
    exported = await (await session.person("Claire Lefèvre")).get(
        f"/api/documents/{document}/export", format="json")
    assert exported["content"] == final
    # A late joiner gets it all in its first sync.
    late = await session.synced("Julien Garnier", document)
    assert str(late.text) == final
    # The node reports its open documents and their sockets.
    health = session.live.health()["documents"]
    assert isinstance(health, dict)
    assert health["documents"] >= 1
    assert health["connections"] >= 4


async def test_offline_edits_merge_on_reconnect(session: Session) -> None:
    document = await session.document()
    teacher = await session.synced("Claire Lefèvre", document)
    lea = await session.node("Léa Martin", document)
    teacher.text.insert(0, "base")
    await lea.wait_text("base")

    await lea.command("disconnect")
    await lea.command("insert", index=4, text=" + hors ligne")
    teacher.text.insert(0, "en ligne + ")
    # Really offline: the server's state (a fresh sync that already has the
    # teacher's later edit) lacks Léa's, and the server relays only what it holds.
    fresh = await session.synced("Julien Garnier", document)
    await fresh.wait_text("en ligne + base")
    assert "hors ligne" not in str(teacher.text)

    await lea.command("connect")
    await lea.wait_event("synced", count=2)
    await teacher.wait_text("en ligne + base + hors ligne")
    await lea.wait_text("en ligne + base + hors ligne")


async def test_read_only_edits_never_reach_anyone(session: Session) -> None:
    teacher_client = await session.person("Claire Lefèvre")
    parent_id = await session.person_id("Camille Martin")
    document = await session.document(readers=[parent_id])
    teacher = await session.synced("Claire Lefèvre", document)
    teacher.text.insert(0, "Lu par les parents")
    parent = await session.node("Camille Martin", document)
    await parent.wait_text("Lu par les parents")

    await parent.command("insert", index=0, text="VANDALE ")
    denied = await parent.wait_event("denied")
    assert denied[0]["reason"].startswith("forbidden: read-only")
    teacher.text.insert(len(teacher.text), ".")
    await parent.wait_text("VANDALE Lu par les parents.")  # receives, its own stays local
    # What the server holds (a fresh sync, the export) has no refused edit:
    # the server relays only what it stored, so the teacher never gets it.
    exported = await teacher_client.http.get(f"/api/documents/{document}/export",
                                             params={"format": "text"})
    assert exported.text == "Lu par les parents."
    fresh = await session.synced("Julien Garnier", document)
    assert str(fresh.text) == "Lu par les parents."
    assert str(teacher.text) == "Lu par les parents."


async def test_removed_from_group_is_cut_at_once(session: Session) -> None:
    lea_id = await session.person_id("Léa Martin")
    hugo_id = await session.person_id("Hugo Bernard")
    document = await session.document(editors=[lea_id, hugo_id])
    hugo = await session.synced("Hugo Bernard", document)
    lea = await session.synced("Léa Martin", document)
    hugo.text.insert(0, "dans le groupe")
    await lea.wait_text("dans le groupe")

    teacher = await session.person("Claire Lefèvre")
    await teacher.put(f"/api/documents/{document}/people", {"editors": [lea_id]})
    async with asyncio.timeout(5):
        await hugo.closed.wait()
    assert hugo.close_code == 4403
    with pytest.raises(websockets.InvalidStatus) as refused:
        await session.y("Hugo Bernard", document)
    assert refused.value.response.status_code == 404
    lea.text.insert(0, "toujours là: ")
    assert not lea.closed.is_set()


async def test_pupil_outside_the_group_cannot_open(session: Session) -> None:
    lea_id = await session.person_id("Léa Martin")
    document = await session.document(editors=[lea_id])
    with pytest.raises(websockets.InvalidStatus) as refused:
        await session.y("Chloé Dubois", document)
    assert refused.value.response.status_code == 404


async def test_lock_makes_editors_read_only_live(session: Session) -> None:
    document = await session.document()
    lea = await session.synced("Léa Martin", document)
    teacher = await session.synced("Claire Lefèvre", document)
    lea.text.insert(0, "avant")
    await teacher.wait_text("avant")

    await (await session.person("Claire Lefèvre")).post(f"/api/documents/{document}/lock")
    await lea.wait(lambda: any("read-only" in r for r in lea.denied))
    lea.text.insert(0, "après ")
    await lea.wait(lambda: len(lea.denied) >= 2)
    assert lea.denied[-1].startswith("forbidden: read-only")
    teacher.text.insert(len(teacher.text), "!")  # the teacher still edits
    await lea.wait_text("après avant!")
    # The server's state (a fresh sync) holds no refused edit, and it relays
    # only what it holds.
    fresh = await session.synced("Julien Garnier", document)
    assert str(fresh.text) == "avant!"
    assert str(teacher.text) == "avant!"


async def test_pupil_of_another_class_cannot_open(session: Session) -> None:
    document = await session.document()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await session.y("Inès Petit", document)
    assert refused.value.response.status_code == 404
    with pytest.raises(websockets.InvalidStatus) as anonymous:
        await YClient.connect(session.ws, document, None)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as foreign:
        await session.y("Léa Martin", document, origin="https://evil.example")
    assert foreign.value.response.status_code == 403
    # Nor through the REST API: the same answer as a document that does not exist.
    ines = await session.person("Inès Petit")
    response = await ines.http.get(f"/api/documents/{document}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_bad_input_is_refused_and_the_room_survives(session: Session) -> None:
    document = await session.document()
    lea = await session.synced("Léa Martin", document)
    watcher = await session.synced("Hugo Bernard", document)
    lea.text.insert(0, "intact")
    await watcher.wait_text("intact")

    bad_frames = {
        b"\x00\x02\xff": "bad_request: truncated",  # a varint cut short
        b"\x00\x02\x05ab": "bad_request: truncated",  # length past the end
        b"\x00": "bad_request: truncated",
        b"\x07": "bad_request: unknown_type",
        b"\x00\x09\x00": "bad_request: unknown_sync_type",
        b"\x00\x02\x04junk": "bad_request: not a Yjs update",
        b"\x00\x00\x01\x00extra": "bad_request: trailing_bytes",
        b"\x01\x05\x01\x07\x01\x01{": "bad_request: bad_awareness",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff": "bad_request: varint_too_long",
    }
    for frame, reason in bad_frames.items():
        before = len(lea.denied)
        await lea.ws.send(frame)
        await lea.wait(lambda before=before: len(lea.denied) > before)
        assert lea.denied[-1].startswith(reason), (frame, lea.denied[-1])

    # An update above the limit: refused whole, never applied.
    other: Doc[object] = Doc()
    other.get("content", type=Text).insert(0, "x" * (MAX_UPDATE + 100))
    await lea.ws.send(codec.update(other.get_update()))
    await lea.wait(lambda: lea.denied[-1].startswith("too_large"))

    # Text frames are not the protocol.
    await lea.ws.send("hello")
    await lea.wait(lambda: lea.denied[-1] == "bad_request: binary frames only")

    # The room is unharmed: edits still flow both ways.
    watcher.text.insert(len(watcher.text), " et vivant")
    await lea.wait_text("intact et vivant")
    assert "x" * 100 not in str(watcher.text)

    # A frame above the hard limit closes the socket (1009).
    await lea.ws.send(b"\x00\x02" + codec.var_bytes(b"\x00" * (70 * 1024)))
    async with asyncio.timeout(5):
        await lea.closed.wait()
    assert lea.close_code == 1009


async def test_awareness_is_relayed_and_cannot_be_spoofed(session: Session) -> None:
    document = await session.document()
    lea = await session.synced("Léa Martin", document)
    hugo = await session.synced("Hugo Bernard", document)
    lea_id = lea.doc.client_id
    # Léa's client names her "Mme Lefèvre": everyone sees her real name instead.
    lea.send(codec.awareness([codec.AwarenessEntry(
        lea_id, 1, '{"user":{"name":"Mme Lefèvre","color":"#1d4ed8"}}')]))
    await hugo.wait(lambda: lea_id in hugo.awareness)
    real = '{"user":{"name":"Léa Martin","color":"#1d4ed8"}}'
    assert hugo.awareness[lea_id] == real

    # Hugo claims Léa's client id: refused, and nobody sees the fake state.
    hugo.send(codec.awareness([codec.AwarenessEntry(lea_id, 9, '{"user":"faux"}')]))
    await hugo.wait(lambda: any("another connection" in r for r in hugo.denied))
    late = await session.synced("Chloé Dubois", document)
    late.send(codec.query_awareness())
    await late.wait(lambda: lea_id in late.awareness)
    assert late.awareness[lea_id] == real

    # Léa leaves: her entry is removed for everyone.
    await lea.close()
    await hugo.wait(lambda: lea_id not in hugo.awareness)
    await late.wait(lambda: lea_id not in late.awareness)


async def test_node_client_sees_awareness_of_others(session: Session) -> None:
    document = await session.document()
    lea = await session.node("Léa Martin", document)
    hugo = await session.synced("Hugo Bernard", document)
    await lea.command("awareness", state={"user": {"name": "Léa", "color": "#047857"}})
    # The provider announces an empty state on connect; then the one set here,
    # with the name the server knows her by.
    await hugo.wait(lambda: "#047857" in hugo.awareness.get(lea.client_id or 0, ""))
    assert hugo.awareness[lea.client_id or 0] == (
        '{"user":{"name":"Léa Martin","color":"#047857"}}')


async def test_logout_closes_document_sockets(session: Session) -> None:
    document = await session.document()
    lea_client = await session.live.client("Léa Martin")
    try:
        lea = await YClient.connect(session.ws, document, lea_client.token)
        session.sockets.append(lea)
        async with asyncio.timeout(5):
            await lea.synced.wait()
        await lea_client.logout()
        async with asyncio.timeout(5):
            await lea.closed.wait()
        assert lea.close_code == 4001
    finally:
        await lea_client.close()


async def test_open_document_sockets_per_person_are_bounded(session: Session) -> None:
    document = await session.document()
    for _ in range(10):  # PREAU_MAX_SOCKETS_PER_PERSON
        await session.synced("Manon Robert", document)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await session.y("Manon Robert", document)
    assert refused.value.response.status_code == 429
    await session.sockets[-1].close()
    async with asyncio.timeout(5):
        while True:  # the server sees the close, then a new socket fits
            try:
                await session.synced("Manon Robert", document)
                break
            except websockets.InvalidStatus:
                await asyncio.sleep(0.05)


async def test_a_poisoned_update_never_reaches_stock_clients_nor_the_store(
    session: Session,
) -> None:
    """Issue 21: an update yrs takes but Yjs integrates differently (here an
    insertion inside an emoji) is refused; stock Yjs clients, a late joiner
    and the export keep agreeing."""
    document = await session.document()
    lea = await session.node("Léa Martin", document)
    attacker = await session.synced("Hugo Bernard", document)
    await lea.command("insert", index=0, text="Bravo 😀 !")
    await attacker.wait_text("Bravo 😀 !")
    client = attacker.doc.client_id
    author = next(iter(updates.read_state_vector(attacker.doc.get_state())))
    split = (b"\x01\x01" + codec.var_uint(client) + codec.var_uint(0) + b"\xc4"
             + codec.var_uint(author) + codec.var_uint(6) + codec.var_uint(author)
             + codec.var_uint(7) + codec.var_bytes(b"Z") + b"\x00")
    await attacker.ws.send(codec.update(split))
    await attacker.wait(lambda: bool(attacker.denied))
    assert attacker.denied[-1] == ("bad_request: this change would break the document for"
                                   " the others (an insertion splits a character in two)"
                                   " [refused-edit]")
    # Everyone else goes on, and agrees.
    await lea.command("insert", index=0, text="👍 ")
    late = await session.node("Julien Garnier", document)
    await late.wait_text("👍 Bravo 😀 !")
    await lea.wait_text("👍 Bravo 😀 !")
    exported = await (await session.person("Claire Lefèvre")).get(
        f"/api/documents/{document}/export", format="json")
    assert exported["content"] == "👍 Bravo 😀 !"
