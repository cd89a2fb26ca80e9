"""Hostile input from outside (issue 21), generated: random frames on /ws (every
op, with values of every JSON shape and extreme integers), random bytes and
real-but-damaged messages on /collab, random REST bodies and paths, random SDP
in call signalling. Whatever comes in, the server answers only documented
error codes, never ``internal``, writes no traceback, and another user's
socket keeps working. The budget fits CI (hypothesis examples, not time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from preau_client import LiveConnection, PreauClient

from preau.collab import codec
from preau.server.errors import ErrorCode
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

DOCUMENTED = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}
FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Generous op budgets: the fuzzer must reach the handlers, not the flood limit.
    live = LiveServer(tmp_path_factory.mktemp("fuzz"), {
        "PREAU_OPS_PER_S": "1000", "PREAU_OPS_BURST": "5000", "PREAU_SENDS_PER_S": "1000",
        "PREAU_SENDS_BURST": "5000", "PREAU_BURST_ROOMS": "1000",
        "PREAU_COLLAB_FRAMES_PER_S": "5000", "PREAU_COLLAB_FRAMES_BURST": "20000",
    }).start()
    try:
        yield live
    finally:
        live.stop()
    log = live.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


class World:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.people: dict[str, PreauClient] = {}

    async def person(self, name: str) -> PreauClient:
        if name not in self.people:
            self.people[name] = await self.server.client(name)
        return self.people[name]


@pytest.fixture
async def world(server: LiveServer) -> AsyncIterator[World]:
    found = World(server)
    try:
        yield found
    finally:
        for client in found.people.values():
            await client.close()


async def ops_of(server: LiveServer) -> list[str]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        return sorted((await http.get("/api/ws-schema")).json())


json_leaf = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
FIELDS = ["room", "seq", "since", "txn", "body", "people", "call", "peer", "to", "kind", "sdp",
          "candidate", "person", "held", "report", "outcome", "reason", "mode", "until",
          "duration_s", "name", "feed", "document", "ack", "urgent", "slow_mode_s", "attachments"]


_ids = iter(range(1, 10**9))


async def raw_request(conn: LiveConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send ``frame`` as JSON text (Python's encoder: integers of any size,
    which the SDK's orjson refuses) with a string id, and return its reply."""
    request_id = f"fz{next(_ids)}"
    await conn.ws.send(json.dumps({**frame, "id": request_id}))
    async with asyncio.timeout(10):
        while True:
            event = await conn.events.get()
            if event.get("re") == request_id:
                return event


async def still_fine(conn: LiveConnection) -> None:
    """The fuzzed socket, and the server, still answer."""
    assert (await conn.request("ping", timeout=10))["ok"] is True


@FUZZ
@given(data=st.data())
async def test_ws_frames_get_documented_answers(world: World, data: st.DataObject) -> None:
    ops = await ops_of(world.server)
    lea = await world.person("Léa Martin")
    claire = await world.person("Claire Lefèvre")
    async with await lea.connect() as conn, await claire.connect() as other:
        for _ in range(5):
            op = data.draw(st.sampled_from([*ops, "nope", ""]))
            params = data.draw(st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=5))
            # (the SDK sets the request id: ids are fuzzed in test_raw_ws_*)
            frame = {"op": op, **params}
            reply = await raw_request(conn, frame)
            if not reply.get("ok"):
                assert reply["error"]["code"] in DOCUMENTED, (frame, reply)
        await still_fine(conn)
        await still_fine(other)


@FUZZ
@given(junk=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
async def test_raw_ws_text_and_binary_junk(world: World, junk: bytes | str) -> None:
    lea = await world.person("Hugo Bernard")
    async with await lea.connect() as conn:
        await conn.ws.send(junk)
        await still_fine(conn)


def damaged(data: st.DataObject, frame: bytes) -> bytes:
    out = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 3))):
        if not out:
            break
        out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    return bytes(out)


@FUZZ
@given(data=st.data())
async def test_collab_junk_and_damaged_messages(world: World, data: st.DataObject) -> None:
    claire = await world.person("Claire Lefèvre")
    created = await claire.post("/api/documents", {
        "class": next(r["class_id"] for r in (await claire.me())["rooms"] if r["name"] == "6eA"),
        "title": "Fuzz"})
    lea = await world.person("Léa Martin")
    url = f"ws://127.0.0.1:{world.server.port}/collab/{created['id']}?token={lea.token}"
    real = [codec.sync_step1(b"\x00"), codec.update(b"\x00\x00"),
            codec.awareness([codec.AwarenessEntry(4242, 1, '{"user":{"name":"Léa"}}')]),
            codec.query_awareness()]
    async with websockets.connect(url, compression=None) as ws:
        for _ in range(6):
            choice = data.draw(st.integers(0, 2))
            if choice == 0:
                frame = data.draw(st.binary(max_size=200))
            else:
                frame = damaged(data, data.draw(st.sampled_from(real)))
            await ws.send(frame)
        # The socket is alive (or closed with a documented code): a fresh
        # handshake still works for someone else.
    async with websockets.connect(
        f"ws://127.0.0.1:{world.server.port}/collab/{created['id']}?token={claire.token}",
        compression=None,
    ) as fresh:
        await fresh.send(codec.sync_step1(b"\x00"))
        answer = await asyncio.wait_for(fresh.recv(), 10)
        assert isinstance(answer, bytes)


@FUZZ
@given(data=st.data())
async def test_rest_bodies_and_paths(world: World, data: st.DataObject) -> None:
    lea = await world.person("Manon Robert")
    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=10,
                                 headers={"authorization": f"Bearer {lea.token}"}) as http:
        async with httpx.AsyncClient(base_url=world.server.base_url) as anon:
            paths = sorted((await anon.get("/api/openapi.json")).json()["paths"])
        for _ in range(4):
            template = data.draw(st.sampled_from(paths))
            path = template
            for name in ("{room}", "{person}", "{school}", "{class}", "{document}", "{seq}",
                         "{held}", "{report}", "{version}"):
                path = path.replace(name, data.draw(st.sampled_from(
                    ["x", "0", "-1", str(2**64), "%00", "..", secrets.token_hex(4)])))
            method = data.draw(st.sampled_from(["GET", "POST", "PUT"]))
            body = data.draw(json_value)
            try:
                response = await http.request(method, path, json=body)
            except httpx.HTTPError:
                continue
            assert response.status_code < 500 or response.status_code == 503, (method, path)
            html = response.headers["content-type"].startswith("text/html")
            if template.startswith(PAGES_FOR_PEOPLE) and html:
                pass  # opened from an e-mail by a person, not a program: a French page
            elif response.status_code >= 400:
                # Every API error, 404 and 405 included, is a documented JSON error.
                assert response.headers["content-type"] == "application/json", (method, path)
                assert response.json()["error"]["code"] in DOCUMENTED, (method, path)


# Numbers a quick isdigit() takes and int() does not (another script's digits,
# a superscript, more digits than int() reads), and one beyond any field.
ODD_NUMBERS = ("²", "٣", "9" * 5000, "1" * 21)
NUMBER_PARAMS = ("before", "after", "limit", "since")


async def test_odd_numbers_in_every_route_are_bad_requests(world: World) -> None:
    """Every route that reads, and every method on a message's ``{seq}``,
    with odd numbers for ``{seq}`` and for every numeric query parameter: a
    documented error, never a 500 (an outside probe: a pupil could write a
    traceback per request)."""
    manon = await world.person("Manon Robert")
    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=10,
                                 headers={"authorization": f"Bearer {manon.token}"}) as http:
        spec = (await http.get("/api/openapi.json")).json()["paths"]
        me = (await http.get("/api/me")).json()
        room = (await http.get("/api/rooms")).json()["rooms"][0]["id"]
        real = {"{room}": room, "{school}": me["school"]["id"], "{person}": me["person"]["id"]}
        asked = 0
        for template, declared in sorted(spec.items()):
            if template.startswith(PAGES_FOR_PEOPLE):
                continue
            # Reads everywhere; writes only on a message's {seq} (no logout,
            # no erasure of the person asking).
            methods = [m for m in declared if m == "get" or "{seq}" in template]
            for odd in ODD_NUMBERS:
                path = template.replace("{seq}", quote(odd))
                for name, value in real.items():
                    path = path.replace(name, value)
                path = path.replace("{", "x-").replace("}", "")
                query = "&".join(f"{p}={quote(odd)}" for p in NUMBER_PARAMS)
                for method in methods:
                    response = await http.request(method.upper(), f"{path}?{query}", json={})
                    asked += 1
                    assert response.status_code < 500 or response.status_code == 503, (
                        method, template, odd[:8])
                    if response.status_code >= 400:
                        assert response.json()["error"]["code"] in DOCUMENTED, (method, template)
        assert asked > 200


# The unsubscribe link of notification e-mails (RFC 8058) and the link that
# confirms a new address answer an HTML page; so does the return from an
# identity provider (a refusal in French, with the way back to the login screen).
PAGES_FOR_PEOPLE = ("/api/notifications/unsubscribe/", "/api/account/email/confirm/",
                    "/api/auth/sso/{provider}/callback",
                    "/api/auth/sso/{provider}/frontchannel-logout")


@FUZZ
@given(sdp=st.text(max_size=400), kind=st.sampled_from(["offer", "answer", "candidate", "x"]))
async def test_call_signalling_junk(world: World, sdp: str, kind: str) -> None:
    claire = await world.person("Claire Lefèvre")
    room = next(r["id"] for r in (await claire.me())["rooms"] if r["name"] == "6eA")
    async with await claire.connect() as conn:
        created = await conn.request("call.create", room=room, name="Fuzz")
        joined = await conn.request("call.join", call=created["call"])
        reply = await conn.request_raw({"op": "call.signal", "call": created["call"],
                                        "peer": joined["peer"], "to": joined["peer"],
                                        "kind": kind, "sdp": sdp})
        if not reply.get("ok"):
            assert reply["error"]["code"] in DOCUMENTED, reply
        await conn.request_raw({"op": "call.end", "call": created["call"],
                                "peer": joined["peer"]})
        await still_fine(conn)


CONSOLE = ("/api/schools/{school}/people", "/api/schools/{school}/people/{person}",
           "/api/schools/{school}/people/{person}/classes",
           "/api/schools/{school}/people/{person}/children",
           "/api/schools/{school}/people/{person}/close", "/api/schools/{school}/classes",
           "/api/schools/{school}/letters", "/api/schools/{school}/import/preview",
           "/api/schools/{school}/rules", "/api/schools/{school}/rules/links",
           "/api/schools/{school}/rules/links/remove")


@FUZZ
@given(data=st.data())
async def test_the_admin_console_takes_junk(world: World, data: st.DataObject) -> None:
    """The school's admin sends junk to the console: JSON of every shape, and
    random bytes as a directory file to preview (never applied here, so the
    school stays as it is for the other tests)."""
    anne = await world.person("Anne Roux")
    async with httpx.AsyncClient(base_url=world.server.base_url, timeout=10,
                                 headers={"authorization": f"Bearer {anne.token}"}) as http:
        school = (await http.get("/api/me")).json()["school"]["id"]
        for _ in range(3):
            template = data.draw(st.sampled_from(CONSOLE))
            path = template.replace("{school}", school).replace("{person}", data.draw(
                st.sampled_from(["x", "0", "%00", "..", secrets.token_hex(4)])))
            method = data.draw(st.sampled_from(["GET", "POST", "PUT"]))
            if template.endswith("/preview"):
                raw = data.draw(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(
                    lambda t: ("id;profil;nom;prénom;classe\n" + t).encode("cp1252", "replace"))))
                response = await http.post(path, content=raw, params={
                    "rollover": data.draw(st.sampled_from(["0", "1", "x"]))})
            else:
                response = await http.request(method, path, json=data.draw(json_value))
            assert response.status_code < 500, (method, path, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"] in DOCUMENTED, (method, path)
@FUZZ
@given(name=st.text(max_size=300), declared=st.one_of(st.none(), st.text(max_size=40)),
       body=st.binary(max_size=2000), length=st.sampled_from(["exact", "more", "fewer"]))
async def test_uploads_of_anything(world: World, name: str, declared: str | None, body: bytes,
                                   length: str) -> None:
    """Any name, declared type, bytes and announced length (more or fewer
    bytes than sent: a raw socket, as no HTTP client sends that): a stored
    file (201) or a documented refusal, never a crash (attachments, issue 13)."""
    hugo = await world.person("Hugo Bernard")
    announced = {"exact": len(body), "more": len(body) + 10, "fewer": max(0, len(body) - 1)}
    head = (f"POST /api/attachments?name={quote(name, safe='')} HTTP/1.1\r\n"
            f"host: 127.0.0.1\r\nauthorization: Bearer {hugo.token}\r\n"
            f"content-length: {announced[length]}\r\nconnection: close\r\n")
    if declared is not None and declared.isascii() and declared.isprintable():
        head += f"content-type: {declared}\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", world.server.port)
    try:
        writer.write(head.encode() + b"\r\n" + body)
        if length == "more":
            writer.write_eof()  # fewer bytes than announced, then nothing
        async with asyncio.timeout(20):
            raw = await reader.read()
    finally:
        writer.close()
        # Closed for good before the example ends: a transport whose close is
        # still pending when the loop goes is reported unclosed by the garbage
        # collector later, in whatever test runs then.
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not raw:
        return  # the client went away mid-body: nobody to answer
    status = int(raw.split(b" ", 2)[1])
    answer = json.loads(raw.partition(b"\r\n\r\n")[2])
    if status == 201:
        assert answer["attachment"]["kind"] in ("document", "image", "audio", "video")
        await hugo.http.delete(f"/api/attachments/{answer['attachment']['id']}")
    else:
        assert 400 <= status < 500 or status == 503, raw
        assert answer["error"]["code"] in DOCUMENTED, raw
