"""Bad input over real sockets: each gets its clear error, nothing crashes, nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import websockets
from preau_client import LiveConnection, PreauClient, PreauError
from websockets.frames import Frame, Opcode

from tests.server.live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with low flood limits, so floods are quick to provoke."""
    server = LiveServer(
        tmp_path_factory.mktemp("strict"),
        {"PREAU_OPS_PER_S": "5", "PREAU_OPS_BURST": "10", "PREAU_SENDS_BURST": "5",
         "PREAU_MAX_SOCKETS_PER_PERSON": "3"},
    ).start()
    try:
        yield server
    finally:
        server.stop()


async def raw(conn: LiveConnection, frame: str | bytes) -> dict[str, object]:
    """Send a frame as is and return the next reply."""
    await conn.ws.send(frame)
    while True:
        event = await conn.events.get()
        if "re" in event:
            return event


async def error_code(conn: LiveConnection, frame: str | bytes) -> str:
    reply = await raw(conn, frame)
    assert reply["ok"] is False, reply
    error = reply["error"]
    assert isinstance(error, dict)
    return str(error["code"])


async def test_malformed_frames_get_errors_and_the_socket_stays(strict: LiveServer) -> None:
    lea = await strict.client("Léa Martin")
    room = (await lea.me())["rooms"][0]["id"]
    async with await lea.connect() as conn:
        await conn.subscribe(room)
        good = await conn.send_message(room, "avant")
        assert await error_code(conn, "{not json") == "bad_request"
        assert await error_code(conn, "[1, 2]") == "bad_request"
        assert await error_code(conn, b"\x00\x01binary") == "bad_request"
        reply = await raw(conn, '{"id": 41, "op": "chat.fly"}')
        assert (reply["re"], reply["error"]["code"]) == (41, "unknown_op")  # type: ignore[index]
        cases = [
            {"op": "chat.send", "room": room, "txn": "t1", "body": 123},
            {"op": "chat.send", "room": room, "txn": "t1"},
            {"op": "chat.send", "room": room, "txn": "t1", "body": "x", "admin": True},
            {"op": "room.subscribe", "room": room, "since": "3"},
            {"op": "room.subscribe", "room": room, "since": -1},
            {"op": "room.subscribe", "room": room, "since": True},
            {"op": "room.subscribe", "room": 5},
            {"id": True, "op": "ping"},
        ]
        for case in cases:
            assert await error_code(conn, orjson.dumps(case).decode()) == "bad_request", case
            await asyncio.sleep(0.25)  # stay under this server's low op rate
        with pytest.raises(PreauError) as refused:
            await conn.send_message(room, "x" * 5000)
        assert refused.value.code == "too_large"
        for body in ("   ", "bip\x07"):
            with pytest.raises(PreauError) as refused:
                await conn.send_message(room, body)
            assert refused.value.code == "bad_request"
        # Over the soft frame limit: an error, the socket stays open.
        big = orjson.dumps(
            {"id": 9, "op": "chat.send", "room": room, "txn": "big", "body": "y" * 70_000}
        ).decode()
        reply = await raw(conn, big)
        assert (reply["re"], reply["error"]["code"]) == (9, "too_large")  # type: ignore[index]
        await asyncio.sleep(1)
        assert (await conn.request("ping"))["ok"] is True
        after = await conn.send_message(room, "après")
    history = await lea.history(room)
    assert [(m["seq"], m["body"]) for m in history] == [
        (good["seq"], "avant"),
        (after["seq"], "après"),
    ]
    await lea.close()


async def test_a_frame_over_the_hard_limit_closes_with_1009(strict: LiveServer) -> None:
    hugo = await strict.client("Hugo Bernard")
    conn = await hugo.connect()
    try:
        await conn.ws.send("z" * (2 * 1024 * 1024))
    except websockets.ConnectionClosed:
        pass  # the server may close while the frame is still being sent
    await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.close_code == 1009
    assert strict.health()["status"] == "ok"
    await hugo.close()


async def test_a_text_frame_that_is_not_utf8_closes_with_1007_and_one_log_line(
    strict: LiveServer,
) -> None:
    hugo = await strict.client("Hugo Bernard")
    conn = await hugo.connect()
    conn.ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"op": "ping", "x": "\xff\xfe"}'))
    conn.ws.send_data()
    await asyncio.wait_for(conn.closed.wait(), 5)
    assert conn.close_code == 1007
    assert "Traceback" not in strict.log_path.read_text()
    assert strict.health()["status"] == "ok"
    await hugo.close()


async def test_floods_are_refused_then_cut_and_nothing_acknowledged_is_lost(
    strict: LiveServer,
) -> None:
    chloe = await strict.client("Chloé Dubois")
    room = (await chloe.me())["rooms"][0]["id"]
    async with await chloe.connect() as conn:
        # Posting faster than the per-account limit: refused with retry_after.
        results = await asyncio.gather(
            *(
                conn.request_raw(
                    {"op": "chat.send", "room": room, "txn": f"f{i}", "body": f"message {i}"}
                )
                for i in range(8)
            )
        )
        accepted = [r for r in results if r["ok"]]
        refused = [r for r in results if not r["ok"]]
        assert accepted
        assert refused
        assert {r["error"]["code"] for r in refused} == {"rate_limited"}
        assert all(r["error"]["retry_after"] > 0 for r in refused)
    history = await chloe.history(room)
    assert sorted(m["seq"] for m in history if m["sender"]["id"] == chloe.person["id"]) == sorted(
        r["seq"] for r in accepted
    )

    async with await chloe.connect() as flooder:
        for i in range(200):
            try:
                await flooder.ws.send(f'{{"id": {i}, "op": "ping"}}')
            except websockets.ConnectionClosed:
                break
        await asyncio.wait_for(flooder.closed.wait(), 5)
        assert flooder.close_code == 1008
    await chloe.close()


async def test_origin_allow_list_on_upgrade(strict: LiveServer) -> None:
    hugo = await strict.client("Hugo Bernard")
    auth = {"authorization": f"Bearer {hugo.token}"}
    same = f"http://127.0.0.1:{strict.port}"
    for bad in (
        "http://evil.example",
        f"{same}.evil.example",
        "null",
        f"http://127.0.0.1:{strict.port + 1}",
    ):
        with pytest.raises(websockets.InvalidStatus) as denied:
            await websockets.connect(strict.ws_url, additional_headers=auth, origin=bad)  # type: ignore[arg-type]
        assert denied.value.response.status_code == 403, bad
    async with await hugo.connect(origin=same) as conn:
        assert conn.hello["person"]["name"] == "Hugo Bernard"
    # Cross-site POSTs riding on a cookie are refused too.
    response = await hugo.http.post("/api/auth/logout", headers={"origin": "http://evil.example"})
    assert response.status_code == 403
    await hugo.close()


async def test_activation_code_is_single_use(strict: LiveServer) -> None:
    login = strict.login_of("Manon Robert")
    code = strict.accounts[login].code
    with pytest.raises(PreauError) as weak:
        await PreauClient.activate(strict.base_url, login, code, "court")
    assert weak.value.code == "weak_password"
    first = await PreauClient.activate(strict.base_url, login, code, "Trousse-Verte-12")
    with pytest.raises(PreauError) as reused:
        await PreauClient.activate(strict.base_url, login, code, "Trousse-Verte-13")
    assert (reused.value.code, reused.value.status) == ("activation_used", 401)
    with pytest.raises(PreauError) as wrong:
        await PreauClient.activate(strict.base_url, login, "AAAA-BBBB-CCCC", "Trousse-Verte-13")
    assert wrong.value.code == "invalid_credentials"
    await first.close()


def test_import_reports_bad_rows_and_keeps_the_good_ones(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.server.live import ROOT

    csv_file = tmp_path / "ecole.csv"
    csv_file.write_text(
        "id;profile;last_name;first_name;classes;parent_of;admin\n"
        "E1;pupil;Martin;Léa;CM1;;\n"
        "E2;pupil;Bernard;Hugo;;;\n"  # line 3: a pupil without a class
        "P1;parent;Martin;Paul;;E1;\n"
        "P2;parent;Nadal;Rafa;;E9;\n"  # line 5: unknown child
        "T1;teacher;Durand;Claire;CM1;;\n",
        encoding="utf-8",
    )
    env = {"PREAU_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [
        sys.executable,
        "-m",
        "preau.server.cli",
        "import",
        str(csv_file),
        "--school",
        "0123456A",
        "--name",
        "École test",
    ]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 1
    # In French by default, with the line and the column (--lang en: English).
    assert (f"{csv_file}: ligne 3, colonne « classes » : un élève est dans une classe et une"
            " seule") in first.stderr
    assert f"{csv_file}: ligne 5, colonne « parent_de » : enfant(s) inconnu(s) : E9" in (
        first.stderr)
    assert "3 created, 0 updated, 1 new classes, 2 rejected rows" in first.stdout
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "0 created, 3 updated, 0 new classes, 2 rejected rows" in again.stdout


async def test_sockets_per_person_are_capped(strict: LiveServer) -> None:
    emma = await strict.client("Emma Simon")
    opened = [await emma.connect() for _ in range(3)]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await emma.connect()
    assert refused.value.response.status_code == 429
    await opened.pop().close()
    await asyncio.sleep(0.2)
    opened.append(await emma.connect())  # a freed slot can be used again
    for conn in opened:
        await conn.close()
    await emma.close()


async def test_a_socket_closes_when_its_session_expires(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"PREAU_SESSION_MAX_S": "2"}).start()
    try:
        gabriel = await server.client("Gabriel Moreau")
        conn = await gabriel.connect()
        await asyncio.wait_for(conn.closed.wait(), 10)
        assert conn.close_code == 4001
        with pytest.raises(PreauError) as expired:
            await gabriel.me()
        assert expired.value.code == "unauthenticated"
        await gabriel.close()
    finally:
        server.stop()


async def test_a_client_that_never_answers_pings_is_closed(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"PREAU_PING_INTERVAL_S": "0.3",
                                   "PREAU_PING_TIMEOUT_S": "0.5"}).start()
    try:
        louis = await server.client("Louis Durand")
        # A bare TCP client: it performs the handshake, then never answers a ping.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             f"Authorization: Bearer {louis.token}\r\n\r\n").encode())
        status = await reader.readline()
        assert b" 101 " in status
        received = await asyncio.wait_for(reader.read(), 10)  # until the server hangs up
        # Somewhere after the hello and the pings: a close frame with code 1011.
        assert b"\x88" in received
        close_at = received.rindex(b"\x88")
        assert int.from_bytes(received[close_at + 2:close_at + 4], "big") == 1011
        writer.close()
        await writer.wait_closed()
        await louis.close()
    finally:
        server.stop()
