"""Class chat end to end: a real server process, real sockets, the Python SDK.

The demo school has classes 6eA and 6eB. Léa Martin and Hugo Bernard are pupils
of 6eA, Claire Lefèvre teaches both classes, Inès Petit is a pupil of 6eB,
Fatima Petit is Inès's mother and Camille Martin is Léa's.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from preau_client import PreauClient, PreauError

from tests.server.live import ROOT, LiveServer, nothing

pytestmark = pytest.mark.slow


async def class_room(client: PreauClient, name: str = "6eA") -> str:
    rooms = (await client.me())["rooms"]
    return next(r["id"] for r in rooms if r["name"] == name)


async def test_two_pupils_and_a_teacher_chat_live(live: LiveServer) -> None:
    lea, hugo, claire = [
        await live.client(n) for n in ("Léa Martin", "Hugo Bernard", "Claire Lefèvre")
    ]
    room = await class_room(lea)
    assert room == await class_room(claire)
    async with await lea.connect() as a, await hugo.connect() as b, await claire.connect() as c:
        for live_conn in (a, b, c):
            reply = await live_conn.subscribe(room)
            assert reply["room"] == room
        # Léa sees Claire's arrival in the room's presence.
        online = {p["name"] for p in (await c.request("presence.list", room=room))["online"]}
        assert {"Léa Martin", "Hugo Bernard", "Claire Lefèvre"} <= online

        sent = await a.send_message(room, "Bonjour la classe !")
        assert sent["duplicate"] is False
        for conn in (a, b, c):
            [event] = await conn.messages(room, 1)
            assert event["seq"] == sent["seq"]
            assert event["body"] == "Bonjour la classe !"
            assert event["sender"]["name"] == "Léa Martin"

        reply = await c.send_message(room, "Bonjour ! Ouvrez vos cahiers.")
        for conn in (a, b, c):
            [event] = await conn.messages(room, 1)
            assert (event["seq"], event["sender"]["name"]) == (reply["seq"], "Claire Lefèvre")

        # Typing reaches the others, not the typist.
        await b.request("chat.typing", room=room)
        typing = await a.next_event("chat.typing")
        assert typing["person"]["name"] == "Hugo Bernard"
        await c.next_event("chat.typing")
        await nothing(b, "chat.typing")

    history = await hugo.history(room)
    assert [m["body"] for m in history][-2:] == [
        "Bonjour la classe !",
        "Bonjour ! Ouvrez vos cahiers.",
    ]
    for client in (lea, hugo, claire):
        await client.close()


async def test_outsiders_are_refused_on_every_path(live: LiveServer) -> None:
    lea = await live.client("Léa Martin")
    room = await class_room(lea)
    lea_id = lea.person["id"]
    ines = await live.client("Inès Petit")  # pupil of the other class
    fatima = await live.client("Fatima Petit")  # parent of a pupil of the other class
    camille = await live.client("Camille Martin")  # Léa's own parent: not in the class room
    for outsider in (ines, fatima, camille):
        async with await outsider.connect() as conn:
            with pytest.raises(PreauError) as refused:
                await conn.subscribe(room)
            assert refused.value.code == "not_found"
            with pytest.raises(PreauError) as refused:
                await conn.send_message(room, "intrus")
            assert refused.value.code == "not_found"
            with pytest.raises(PreauError) as refused:
                await conn.request("presence.list", room=room)
            assert refused.value.code == "not_found"
            # The socket is still usable after each refusal.
            assert (await conn.request("ping"))["ok"] is True
        with pytest.raises(PreauError) as refused:
            await outsider.history(room)
        assert (refused.value.code, refused.value.status) == ("not_found", 404)
    # Directory: other-class pupil and other-class parent cannot look Léa up...
    for outsider in (ines, fatima):
        with pytest.raises(PreauError) as refused:
            await outsider.get(f"/api/people/{lea_id}")
        assert refused.value.code == "not_found"  # as for nobody
        found = await outsider.get("/api/directory", q="Martin")
        assert lea_id not in {p["id"] for p in found["people"]}
    # ...while her parent can, and every teacher of the school can.
    assert (await camille.get(f"/api/people/{lea_id}"))["name"] == "Léa Martin"
    sophie = await live.client("Sophie Faure")
    assert (await sophie.get(f"/api/people/{lea_id}"))["name"] == "Léa Martin"

    # Logged out: nothing at all.
    token = lea.token
    await lea.logout()
    anonymous = httpx.AsyncClient(base_url=live.base_url)
    for path in (
        f"/api/rooms/{room}/messages",
        f"/api/people/{lea_id}",
        "/api/directory",
        "/api/me",
    ):
        for headers in ({}, {"authorization": f"Bearer {token}"}):
            response = await anonymous.get(path, headers=headers)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthenticated"
    await anonymous.aclose()
    for headers in ({}, {"authorization": f"Bearer {token}"}):
        with pytest.raises(websockets.InvalidStatus) as denied:
            await websockets.connect(live.ws_url, additional_headers=headers)
        assert denied.value.response.status_code == 401
    for client in (lea, ines, fatima, camille, sophie):
        await client.close()


async def test_resume_with_since_gets_exactly_what_was_missed(live: LiveServer) -> None:
    lea, hugo = await live.client("Léa Martin"), await live.client("Hugo Bernard")
    room = await class_room(lea)
    async with await lea.connect() as sender:
        await sender.subscribe(room)
        hugo_conn = await hugo.connect()
        await hugo_conn.subscribe(room)
        first = [await sender.send_message(room, f"avant {i}") for i in range(3)]
        seen = await hugo_conn.messages(room, 3)
        assert [m["seq"] for m in seen] == [r["seq"] for r in first]
        last_seen = seen[-1]["seq"]
        await hugo_conn.close()

        missed = [await sender.send_message(room, f"pendant {i}") for i in range(5)]
        async with await hugo.connect() as back:
            reply = await back.subscribe(room, since=last_seen)
            assert reply["truncated"] is False
            replay = await back.messages(room, 5)
            assert [m["seq"] for m in replay] == [r["seq"] for r in missed]
            assert [m["body"] for m in replay] == [f"pendant {i}" for i in range(5)]
            after = await sender.send_message(room, "après")
            [live_msg] = await back.messages(room, 1)
            assert live_msg["seq"] == after["seq"]
            # Nothing else arrives: no duplicate of the replayed messages.
            await nothing(back, "chat.message")
    await lea.close()
    await hugo.close()


async def test_a_retried_send_is_stored_and_delivered_once(live: LiveServer) -> None:
    lea, hugo = await live.client("Chloé Dubois"), await live.client("Hugo Bernard")
    room = await class_room(lea)
    async with await lea.connect() as a, await hugo.connect() as b:
        await b.subscribe(room)
        txn = secrets.token_hex(8)
        first = await a.send_message(room, "une seule fois", txn=txn)
        again = await a.send_message(room, "une seule fois", txn=txn)
        assert (again["seq"], again["id"], again["duplicate"]) == (first["seq"], first["id"], True)
        [event] = await b.messages(room, 1)
        assert event["seq"] == first["seq"]
        await nothing(b, "chat.message")
    history = await hugo.history(room, after=first["seq"] - 1)
    assert [m["id"] for m in history] == [first["id"]]
    await lea.close()
    await hugo.close()


async def test_logout_and_password_change_close_sockets(live: LiveServer) -> None:
    hugo_b = await live.client("Nathan Thomas")  # a first session...
    hugo_a = await live.client("Nathan Thomas")  # ...and a second one, same person
    first = await hugo_a.connect()
    second = await hugo_a.connect()
    other = await hugo_b.connect()
    await hugo_a.logout()
    for conn in (first, second):
        await asyncio.wait_for(conn.closed.wait(), 5)
        assert conn.close_code == 4001
    assert (await other.request("ping"))["ok"] is True

    # A password change ends the person's other sessions, not the current one.
    fresh = await PreauClient.login(
        live.base_url, live.login_of("Nathan Thomas"), "Cahier-de-textes-42"
    )
    fresh_conn = await fresh.connect()
    await hugo_b.post(
        "/api/auth/password", {"current": "Cahier-de-textes-42", "new": "Cartable-Bleu-77"}
    )
    await asyncio.wait_for(fresh_conn.closed.wait(), 5)
    assert fresh_conn.close_code == 4001
    assert (await other.request("ping"))["ok"] is True
    with pytest.raises(PreauError) as refused:
        await PreauClient.login(
            live.base_url, live.login_of("Nathan Thomas"), "Cahier-de-textes-42"
        )
    assert refused.value.code == "invalid_credentials"
    await other.close()
    for client in (hugo_a, hugo_b, fresh):
        await client.close()


async def test_a_client_that_stops_reading_is_cut_and_resumes(tmp_path: Path) -> None:
    """Its queue stays bounded: past it the server drops the connection; the client
    comes back with ``since`` and gets every acknowledged message exactly once."""
    server = LiveServer(tmp_path, {
        "PREAU_SEND_QUEUE_FRAMES": "20", "PREAU_MAX_MESSAGE_CHARS": "30000",
        "PREAU_SENDS_PER_S": "1000", "PREAU_SENDS_BURST": "1000",
        "PREAU_OPS_PER_S": "1000", "PREAU_OPS_BURST": "1000",
    }).start()
    try:
        lea, hugo = await server.client("Léa Martin"), await server.client("Hugo Bernard")
        room = await class_room(lea)
        # A socket with a tiny receive buffer, whose owner never reads it.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        slow = await websockets.connect(
            server.ws_url, sock=sock, max_queue=4, max_size=2**22,
            additional_headers={"authorization": f"Bearer {hugo.token}"})
        await slow.send(orjson.dumps({"id": 1, "op": "room.subscribe", "room": room}).decode())
        while '"re":1' not in str(await slow.recv()):
            pass
        assert server.health()["gateway"] == {"connections": 1, "rooms": 1}

        acked = []
        async with await lea.connect() as sender:
            for i in range(300):
                reply = await sender.send_message(room, f"{i:04d} " + "x" * 25_000)
                acked.append(reply["seq"])
                gateway = server.health()["gateway"]
                if i > 50 and gateway == {"connections": 1, "rooms": 1}:
                    break  # the slow socket was cut; only the sender is left
            assert server.health()["gateway"]["connections"] == 1, "the slow client was not cut"
        slow.transport.abort()

        async with await hugo.connect() as back:
            await back.subscribe(room, since=0)
            replay = await back.messages(room, len(acked), timeout=30)
            assert [m["seq"] for m in replay] == acked
            await nothing(back, "chat.message")
        await lea.close()
        await hugo.close()
    finally:
        server.stop()


async def test_a_class_change_imported_beside_the_server_revokes_live_access(
    tmp_path: Path,
) -> None:
    server = LiveServer(tmp_path, {"PREAU_DIRECTORY_POLL_S": "0.5"}).start()
    try:
        lucas = await server.client("Lucas Richard")
        room_a = await class_room(lucas, "6eA")
        async with await lucas.connect() as conn:
            await conn.subscribe(room_a)
            moved = tmp_path / "move.csv"
            moved.write_text("id;profile;last_name;first_name;classes\n"
                             "E006;pupil;Richard;Lucas;6eB\n", encoding="utf-8")
            command = [sys.executable, "-m", "preau.server.cli", "import", str(moved),
                       "--school", "0000001D"]
            result = await asyncio.to_thread(
                subprocess.run, command, cwd=ROOT, env=server.env, capture_output=True,
                text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            revoked = await conn.next_event("room.revoked", timeout=10)
            assert revoked["room"] == room_a
            with pytest.raises(PreauError) as refused:
                await conn.send_message(room_a, "encore là ?")
            assert refused.value.code == "not_found"
            assert await class_room(lucas, "6eB")
            await conn.subscribe(await class_room(lucas, "6eB"))
        await lucas.close()
    finally:
        server.stop()
