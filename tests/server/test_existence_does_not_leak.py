"""Existence does not leak: an id that exists but is out of reach answers
exactly as an unknown id — same HTTP status and byte-identical error body on
REST, the same reply on /ws — on every path that takes an id.

Generated: every REST route (from the server's /api/openapi.json) and every
/ws op (from its /api/ws-schema, op modules included) must have an entry in
``REST`` or ``WS`` below — a route or op added without one fails
``test_every_route_and_op_is_in_the_table``. Each entry names the ids it takes
(path parameters, body or query fields, op parameters); for each profile, each
such id is tried with an unknown value and with every existing value out of
the profile's reach, the other ids held at the profile's own ("home") values.

A real server (the embedded default, demo school) plus a second school
imported beside it with ``preau import``. Profiles: a pupil (Léa Martin, 6eA),
a parent (Camille Martin, Léa's mother), a teacher (Julien Garnier, 6eA only)
and the admin of the other school (Bruno Vert). Out of reach: the other
class's rooms, parents' room, report, held message, document, version and
call (6eB, Sophie Faure's), conversations one is not in, people outside one's
circle of trust, and everything of the other school.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from preau_client import LiveConnection, PreauClient

from tests.server.attachments import samples
from tests.server.live import PASSWORD, ROOT, LiveServer

pytestmark = pytest.mark.slow

SECOND_SCHOOL = """id;profile;last_name;first_name;classes;parent_of;admin
Z1;pupil;Blanc;Zoé;3C;;
Z2;parent;Blanc;Yves;;Z1;
Z3;teacher;Noir;Marc;3C;;
Z4;staff;Vert;Bruno;;;yes
"""
PROFILES = {"pupil": "Léa Martin", "parent": "Camille Martin", "teacher": "Julien Garnier",
            "admin of another school": "Bruno Vert"}

# Path, body and op parameter names → the kind of id they carry.
KINDS = {"room": "room", "class": "class", "person": "person", "people": "person",
         "report": "report", "held": "held", "school": "school", "document": "document",
         "version": "version", "call": "call", "peer": "peer", "readers": "person",
         "actor": "person", "target": "person", "who": "peer", "feed": "peer", "to": "peer",
         "attachment": "attachment", "attachments": "attachment",
         "device": "device"}


@dataclass(frozen=True)
class Rest:
    """A REST route: ``ids`` are varied one at a time; a name in ``body`` or
    ``query`` whose value is ``"{name}"`` (or ``["{name}"]``) is an id there."""

    method: str
    path: str
    ids: tuple[str, ...] = ()
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None


@dataclass(frozen=True)
class Ws:
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    ids: tuple[str, ...] = ()


REASON = {"reason": "test"}
REST: list[Rest] = [
    # No id: nothing to probe.
    Rest("POST", "/api/auth/login"), Rest("POST", "/api/auth/activate"),
    # Recovery: the same answer for every login (tests/server/auth/test_recovery.py).
    Rest("POST", "/api/auth/recovery"), Rest("POST", "/api/auth/recovery/check"),
    Rest("POST", "/api/auth/recovery/reset"),
    # Single sign-on: {provider} names a configured identity provider, public
    # on the login screen; no person's or room's id is taken.
    Rest("GET", "/api/auth/sso"), Rest("GET", "/api/auth/sso/{provider}/start"),
    Rest("GET", "/api/auth/sso/{provider}/callback"),
    Rest("POST", "/api/auth/sso/{provider}/callback"),
    Rest("GET", "/api/auth/sso/{provider}/frontchannel-logout"),
    Rest("POST", "/api/auth/sso/{provider}/backchannel-logout"),
    Rest("GET", "/api/auth/sso/{provider}/metadata"),
    Rest("GET", "/api/auth/sso/{provider}/slo"),
    Rest("POST", "/api/auth/logout"), Rest("POST", "/api/auth/password"),
    # Another person's session id answers like none: tests/server/test_live_http.py.
    Rest("GET", "/api/auth/sessions"), Rest("DELETE", "/api/auth/sessions/{session}"),
    Rest("GET", "/api/me"), Rest("GET", "/api/rooms"), Rest("GET", "/api/conversations"),
    Rest("GET", "/api/me/reports"), Rest("GET", "/api/directory"), Rest("GET", "/api/health"),
    Rest("GET", "/api/health/ready"), Rest("GET", "/api/health/live"),
    Rest("GET", "/api/openapi.json"), Rest("GET", "/api/ws-schema"),
    Rest("GET", "/api/documents"),
    # Ids in the body.
    Rest("POST", "/api/conversations", ("people",), body={"people": ["{people}"]}),
    Rest("POST", "/api/documents", ("class", "readers"),
         body={"class": "{class}", "title": "t", "readers": ["{readers}"]}),
    # Classes and rooms.
    Rest("POST", "/api/classes/{class}/parents-room", ("class",)),
    Rest("GET", "/api/rooms/{room}/messages", ("room",)),
    Rest("GET", "/api/rooms/{room}/search", ("room",), query={"q": "bonjour"}),
    Rest("GET", "/api/rooms/{room}/policy", ("room",)),
    Rest("POST", "/api/rooms/{room}/policy", ("room",), body={"slow_mode_s": 0}),
    Rest("GET", "/api/rooms/{room}/held", ("room",)),
    Rest("POST", "/api/rooms/{room}/held/{held}/approve", ("room", "held")),
    Rest("POST", "/api/rooms/{room}/held/{held}/reject", ("room", "held"), body=REASON),
    Rest("POST", "/api/rooms/{room}/messages/{seq}/redact", ("room",), body=REASON),
    Rest("PUT", "/api/rooms/{room}/messages/{seq}", ("room",), body={"body": "x"}),
    Rest("POST", "/api/rooms/{room}/messages/{seq}/report", ("room",), body=REASON),
    Rest("PUT", "/api/rooms/{room}/messages/{seq}/reactions/{reaction}", ("room",)),
    Rest("DELETE", "/api/rooms/{room}/messages/{seq}/reactions/{reaction}", ("room",)),
    Rest("GET", "/api/rooms/{room}/messages/{seq}/reactions", ("room",)),
    Rest("GET", "/api/rooms/{room}/members", ("room",)),
    Rest("POST", "/api/rooms/{room}/members/{person}/mute", ("room", "person"),
         body={"duration_s": 60}),
    *(Rest("POST", f"/api/rooms/{{room}}/members/{{person}}/{action}", ("room", "person"),
           body=REASON) for action in ("unmute", "remove", "readmit")),
    # Schools (and what hangs from them).
    Rest("GET", "/api/schools/{school}/audit", ("school", "room", "actor", "target"),
         query={"room": "{room}", "actor": "{actor}", "target": "{target}"}),
    Rest("GET", "/api/schools/{school}/settings", ("school",)),
    Rest("PUT", "/api/schools/{school}/settings", ("school",), body={"quiet_hours": "off"}),
    Rest("POST", "/api/schools/{school}/parents-room", ("school",)),
    Rest("GET", "/api/schools/{school}/paused", ("school",)),
    Rest("POST", "/api/schools/{school}/paused/{person}/resume", ("school", "person"),
         body=REASON),
    Rest("GET", "/api/schools/{school}/messaging", ("school",)),
    Rest("POST", "/api/schools/{school}/messaging", ("school",), body={"resume": ["pupil"]}),
    Rest("GET", "/api/schools/{school}/reports", ("school",)),
    Rest("POST", "/api/schools/{school}/reports/{report}/resolve", ("school", "report"),
         body={"outcome": "keep"}),
    Rest("GET", "/api/schools/{school}/word-filter", ("school",)),
    Rest("PUT", "/api/schools/{school}/word-filter", ("school",),
         body={"block": [], "hold": [], "alert": []}),
    Rest("GET", "/api/schools/{school}/access-journal", ("school",)),
    Rest("GET", "/api/schools/{school}/retention", ("school",)),
    Rest("GET", "/api/schools/{school}/login-throttle", ("school",)),
    Rest("POST", "/api/schools/{school}/login-throttle/{person}/clear", ("school", "person")),
    # The admin console (preau/server/console/): the school's admins only.
    Rest("GET", "/api/schools/{school}/people", ("school", "class"), query={"class": "{class}"}),
    Rest("POST", "/api/schools/{school}/people", ("school", "class"),
         body={"profile": "pupil", "first_name": "A", "last_name": "B", "classes": ["{class}"]}),
    Rest("PUT", "/api/schools/{school}/people/{person}", ("school", "person"),
         body={"first_name": "A"}),
    Rest("PUT", "/api/schools/{school}/people/{person}/classes", ("school", "person", "class"),
         body={"classes": ["{class}"]}),
    Rest("PUT", "/api/schools/{school}/people/{person}/children", ("school", "person"),
         body={"children": ["{person}"]}),
    Rest("POST", "/api/schools/{school}/people/{person}/close", ("school", "person"), body={}),
    Rest("GET", "/api/schools/{school}/classes", ("school",)),
    Rest("POST", "/api/schools/{school}/classes", ("school",), body={"name": "Z1"}),
    Rest("POST", "/api/schools/{school}/letters", ("school", "class"), body={"class": "{class}"}),
    Rest("GET", "/api/schools/{school}/rules", ("school",)),
    *(Rest("POST", f"/api/schools/{{school}}/rules/{path}", ("school",),
           body={"from": "nobody/pupil", "to": "nobody/pupil"})
      for path in ("links", "links/remove")),
    Rest("POST", "/api/schools/{school}/rules/reset", ("school",), body={}),
    Rest("POST", "/api/schools/{school}/import/preview", ("school",), body={}),
    Rest("POST", "/api/schools/{school}/import", ("school",), body={}),
    # People.
    Rest("GET", "/api/people/{person}", ("person",)),
    Rest("GET", "/api/people/{person}/export", ("person",)),
    Rest("POST", "/api/people/{person}/activation-code", ("person",)),
    Rest("POST", "/api/people/{person}/erasure", ("person",), body={}),
    # Documents.
    Rest("GET", "/api/documents/{document}", ("document",)),
    Rest("DELETE", "/api/documents/{document}", ("document",)),
    Rest("POST", "/api/documents/{document}/lock", ("document",)),
    Rest("POST", "/api/documents/{document}/unlock", ("document",)),
    Rest("PUT", "/api/documents/{document}/people", ("document", "readers"),
         body={"readers": ["{readers}"]}),
    Rest("GET", "/api/documents/{document}/versions", ("document",)),
    Rest("POST", "/api/documents/{document}/versions", ("document",), body={"name": "v"}),
    Rest("POST", "/api/documents/{document}/versions/{version}/restore",
         ("document", "version")),
    Rest("GET", "/api/documents/{document}/history", ("document",)),
    Rest("GET", "/api/documents/{document}/export", ("document",)),
    # Attachments: a file readable where its message (or document) is.
    Rest("POST", "/api/attachments"),
    Rest("GET", "/api/attachments/{attachment}", ("attachment",)),
    Rest("GET", "/api/attachments/{attachment}/thumbnail", ("attachment",)),
    # A reviewer's download (a report's message's files): out of reach either way.
    Rest("GET", "/api/attachments/{attachment}", ("attachment", "report"),
         query={"report": "{report}"}),
    Rest("GET", "/api/attachments/{attachment}/thumbnail", ("attachment", "report"),
         query={"report": "{report}"}),
    Rest("DELETE", "/api/attachments/{attachment}", ("attachment",)),
    Rest("POST", "/api/documents/{document}/attachments", ("document", "attachments"),
         body={"attachments": ["{attachments}"]}),
    Rest("GET", "/api/documents/{document}/attachments", ("document",)),
    Rest("DELETE", "/api/documents/{document}/attachments/{attachment}",
         ("document", "attachment")),
    # The charter of use.
    Rest("GET", "/api/charter"), Rest("POST", "/api/charter/accept", body={"version": 1}),
    Rest("POST", "/api/schools/{school}/charter", ("school",), body={"body": "Charte"}),
    Rest("GET", "/api/schools/{school}/charter/acceptances", ("school",)),
    # The mood of the day.
    Rest("GET", "/api/mood"), Rest("PUT", "/api/mood"),
    # Ids of others' notifications change nothing, as unknown ones
    # (tests/server/notifications/test_live_notifications.py).
    Rest("GET", "/api/notifications"), Rest("POST", "/api/notifications/read", body={"all": True}),
    # An unsubscribe token is a capability sent by mail: an unknown one and
    # another person's answer alike (tests/server/notifications/test_email.py).
    Rest("GET", "/api/notifications/unsubscribe/{token}"),
    Rest("POST", "/api/notifications/unsubscribe/{token}"),
    Rest("GET", "/api/notifications/preferences"),
    Rest("PUT", "/api/notifications/preferences", body={"channels": {"message": "in_app"}}),
    # One's own address; a confirmation link is a capability, as unsubscribe.
    Rest("GET", "/api/account/email"),
    Rest("GET", "/api/account/language"), Rest("PUT", "/api/account/language",
                                                body={"language": "en"}),
    Rest("PUT", "/api/account/email", body={"email": "moi@famille.example"}),
    Rest("GET", "/api/account/email/confirm/{token}"),
    Rest("POST", "/api/account/email/confirm/{token}"),
    # Web Push: another person's device answers as an unknown one.
    Rest("GET", "/api/push/key"), Rest("GET", "/api/push/devices"),
    Rest("POST", "/api/push/devices", body={
        "endpoint": "http://127.0.0.1:9/push/x", "keys": {"p256dh": "x", "auth": "y"}}),
    Rest("DELETE", "/api/push/devices/{device}", ("device",)),
    Rest("GET", "/api/schools/{school}/notifications", ("school",)),
    Rest("PUT", "/api/schools/{school}/notifications", ("school",),
         body={"forced": {"announcement": "on"}}),
    Rest("GET", "/api/mood/classes/{class}", ("class",)),
    Rest("GET", "/api/mood/people/{person}", ("person",)),
    Rest("PUT", "/api/schools/{school}/classes/{class}/level", ("school", "class"),
         body={"level": None}),
]

ROOM, SEQ = {"room": "{room}"}, {"room": "{room}", "seq": 1}
PEER = {"call": "{call}", "peer": "{peer}"}
WS: list[Ws] = [
    Ws("ping"), Ws("report.mine"),
    Ws("room.subscribe", ROOM, ("room",)),
    Ws("room.unsubscribe", ROOM, ("room",)),
    Ws("chat.send", {"room": "{room}", "txn": "t", "body": "x", "attachments": ["{attachments}"]},
       ("room", "attachments")),
    Ws("chat.typing", ROOM, ("room",)),
    Ws("presence.list", ROOM, ("room",)),
    Ws("scheduled.list", ROOM, ("room",)),
    *(Ws(op, {"room": "{room}", "scheduled": "s-nobody"}, ("room",))
      for op in ("scheduled.cancel", "scheduled.send_now")),
    Ws("conversation.open", {"people": ["{people}"]}, ("people",)),
    Ws("chat.redact", SEQ, ("room",)),
    Ws("chat.edit", {"room": "{room}", "seq": 1, "body": "x"}, ("room",)),
    Ws("chat.report", SEQ, ("room",)),
    Ws("room.policy", {"room": "{room}", "slow_mode_s": 0}, ("room",)),
    Ws("held.list", ROOM, ("room",)),
    Ws("held.approve", {"room": "{room}", "held": "{held}"}, ("room", "held")),
    Ws("held.reject", {"room": "{room}", "held": "{held}"}, ("room", "held")),
    Ws("member.mute", {"room": "{room}", "person": "{person}", "duration_s": 60},
       ("room", "person")),
    *(Ws(op, {"room": "{room}", "person": "{person}"}, ("room", "person"))
      for op in ("member.unmute", "member.remove", "member.readmit")),
    Ws("member.list", ROOM, ("room",)),
    Ws("report.resolve", {"report": "{report}", "outcome": "keep"}, ("report",)),
    Ws("chat.read", SEQ, ("room",)),
    Ws("chat.receipts", ROOM, ("room",)),
    Ws("chat.ack", SEQ, ("room",)),
    Ws("chat.acks", SEQ, ("room",)),
    Ws("chat.my_acks", ROOM, ("room",)),
    Ws("chat.react", {**SEQ, "reaction": "like"}, ("room",)),
    Ws("chat.unreact", {**SEQ, "reaction": "like"}, ("room",)),
    Ws("chat.reactors", SEQ, ("room",)),
    Ws("call.create", ROOM, ("room",)),
    Ws("call.list", ROOM, ("room",)),
    Ws("call.join", {"call": "{call}"}, ("call",)),
    *(Ws(op, PEER, ("call", "peer")) for op in (
        "call.leave", "call.end", "call.mute_all", "call.lower_all", "call.breakouts_close",
        "call.controls", "sfu.unpublish")),
    *(Ws(op, {**PEER, "who": "{who}"}, ("call", "peer", "who"))
      for op in ("call.admit", "call.deny", "call.remove")),
    Ws("call.role", {**PEER, "who": "{who}", "role": "viewer"}, ("call", "peer", "who")),
    Ws("call.signal", {**PEER, "to": "{to}", "kind": "end_of_candidates"},
       ("call", "peer", "to")),
    Ws("call.media", {**PEER, "audio_muted": True}, ("call", "peer")),
    Ws("call.hand", {**PEER, "raised": True}, ("call", "peer")),
    Ws("call.breakouts", {**PEER, "rooms": ["a"], "assign": {}, "duration_s": 60},
       ("call", "peer")),
    Ws("sfu.publish", {**PEER, "sdp": "v=0"}, ("call", "peer")),
    Ws("sfu.subscribe", {**PEER, "feed": "{feed}"}, ("call", "peer", "feed")),
    Ws("sfu.answer", {**PEER, "subscription": "s1", "sdp": "v=0"}, ("call", "peer")),
    Ws("sfu.trickle", {**PEER, "target": "publish", "candidate": None}, ("call", "peer")),
    Ws("sfu.unsubscribe", {**PEER, "subscription": "s1"}, ("call", "peer")),
    Ws("charter.get"), Ws("charter.accept", {"version": 1}),
    Ws("mood.get"), Ws("mood.set", {"mood": "happy"}),
    Ws("mood.board", {"class": "{class}"}, ("class",)),
    Ws("mood.person", {"person": "{person}"}, ("person",)),
]


@dataclass
class World:
    """What exists, per profile: ``home`` (its own values of each kind, used
    for the ids not being varied) and ``out_of_reach`` (existing ids it may
    not reach, by kind, with a label for the failure message)."""

    server: LiveServer
    clients: dict[str, PreauClient]
    home: dict[str, dict[str, str]]
    out_of_reach: dict[str, dict[str, list[tuple[str, str]]]]


# Known and not yet fixed, each with its owner: listed exactly, so a fix
# fails here until its line goes. None today (a peer id held by someone else
# now answers ``not_in_call`` like an unknown one).
KNOWN_LEAKS: set[tuple[str, str, str]] = set()


def unknown() -> str:
    return secrets.token_urlsafe(9)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\{(\w+)\}", value)
        return ids[match[1]] if match else value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _values(world: World, profile: str, names: tuple[str, ...]) -> dict[str, str]:
    """The home value of each id name (an unknown id where the profile has none)."""
    home = world.home[profile]
    return {name: home.get(KINDS[name], unknown()) for name in names}


def _strip(body: Any) -> Any:
    """An answer without what legitimately differs per request (request ids)."""
    if isinstance(body, dict):
        return {k: _strip(v) for k, v in body.items() if k not in ("re", "request_id")}
    return body


def _unsay(answer: Any, value: str) -> Any:
    if isinstance(answer, str):
        return answer.replace(value, "{id}")
    if isinstance(answer, (list, tuple)):
        return type(answer)(_unsay(a, value) for a in answer)
    if isinstance(answer, dict):
        return {k: _unsay(v, value) for k, v in answer.items()}
    return answer


async def _rest(client: PreauClient, case: Rest, ids: dict[str, str]) -> tuple[int, Any]:
    path = re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], "1"), case.path)
    query = None if case.query is None else _fill(case.query, ids)
    body = None if case.body is None else _fill(case.body, ids)
    response = await client.http.request(case.method, path, params=query, json=body)
    content: Any = response.json() if response.content else None
    return response.status_code, _strip(content)


async def _ws(conn: LiveConnection, case: Ws, ids: dict[str, str]) -> Any:
    return _strip(await conn.request_raw({"op": case.op, **_fill(case.params, ids)}))


def _cases() -> Iterator[tuple[str, Rest | Ws, str]]:
    for rest in REST:
        for name in rest.ids:
            yield f"{rest.method} {rest.path} [{name}]", rest, name
    for ws in WS:
        for name in ws.ids:
            yield f"/ws {ws.op} [{name}]", ws, name


async def test_an_id_out_of_reach_answers_as_an_unknown_one(world: World) -> None:
    mismatches: list[str] = []
    leaks: set[tuple[str, str, str]] = set()
    compared = 0
    for profile, client in world.clients.items():
        async with await client.connect() as conn:
            for title, case, name in _cases():
                kind = KINDS[name]
                values = _values(world, profile, case.ids)
                values[name] = unknown()

                async def answer(ids: dict[str, str], case: Rest | Ws = case,
                                 client: PreauClient = client, name: str = name) -> Any:
                    if isinstance(case, Rest):
                        got: Any = await _rest(client, case, ids)
                    else:
                        got = await _ws(conn, case, ids)
                    # A message may repeat the id it was given: that is no leak.
                    return _unsay(got, ids[name])

                expected = await answer(values)
                assert "internal" not in str(expected), (profile, title, expected)
                for label, existing in world.out_of_reach[profile].get(kind, []):
                    got = await answer({**values, name: existing})
                    compared += 1
                    if got != expected:
                        leaks.add((profile, title, label))
                        if (profile, title, label) not in KNOWN_LEAKS:
                            mismatches.append(f"{profile}: {title} with {label}: {got} "
                                              f"instead of {expected}")
    assert mismatches == [], "\n".join(mismatches)
    assert KNOWN_LEAKS - leaks == set(), "fixed: remove them from KNOWN_LEAKS"
    assert compared > 1000  # every case met several existing ids out of reach


def test_every_route_and_op_is_in_the_table(servers: Servers) -> None:
    """A new REST route or /ws op must get an entry above (ids or none)."""
    base = servers.server.base_url
    spec = httpx.get(base + "/api/openapi.json", timeout=10).json()
    routes = {(method.upper(), path) for path, item in spec["paths"].items()
              for method in item}
    ops = set(httpx.get(base + "/api/ws-schema", timeout=10).json())
    assert routes - {(r.method, r.path) for r in REST} == set(), "routes without an entry"
    assert ops - {w.op for w in WS} == set(), "ops without an entry"
    # And every id an entry names has a kind the world knows.
    assert {n for _, _, n in _cases()} <= set(KINDS)


# -- the world ----------------------------------------------------------------------
@contextlib.contextmanager
def _server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path, env={
        "PREAU_OPS_PER_S": "100000", "PREAU_OPS_BURST": "100000",
        "PREAU_DIRECTORY_POLL_S": "0.2",
        # Devices on loopback (port 9: nothing listens; pushes are retried).
        "PREAU_PUSH_ALLOW_LOOPBACK": "1",
    }).start()
    try:
        yield server
    finally:
        server.stop()


def _import_second_school(server: LiveServer, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """``preau import`` beside the running server; name → (login, activation code)."""
    csv = tmp_path / "second.csv"
    csv.write_text(SECOND_SCHOOL, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", str(csv), "--school", "0999999Z",
         "--name", "Lycée de l'autre rive"],
        cwd=ROOT, env=server.env, capture_output=True, text=True, check=True, timeout=60,
    )
    accounts = {}
    for line in done.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(pupil|parent|teacher|staff)\s+(\S{4}-\S{4}-\S{4})\s+(.*)$",
                     line)
        if m:
            accounts[m[4].strip()] = (m[1], m[3])
    return accounts


async def _room_of(client: PreauClient, name: str) -> dict[str, Any]:
    rooms = (await client.me())["rooms"]
    return next(r for r in rooms if r["name"] == name)


async def _say(conn: LiveConnection, room: str, body: str) -> dict[str, Any]:
    return await conn.request("chat.send", room=room, txn=secrets.token_hex(6), body=body)


@dataclass
class Servers:
    """The running server, and the second school's accounts: name → (login, code)."""

    server: LiveServer
    second: dict[str, tuple[str, str]]
    activated: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("existence")
    with _server(folder) as server:
        yield Servers(server, _import_second_school(server, folder))


async def _second_school_client(servers: Servers, name: str) -> PreauClient:
    login, code = servers.second[name]
    if login in servers.activated:
        return await PreauClient.login(servers.server.base_url, login, PASSWORD)
    servers.activated.add(login)
    client = await PreauClient.activate(servers.server.base_url, login, code, PASSWORD)
    # Imported beside the demo, they have not accepted the charter of use yet.
    version = (await client.get("/api/charter"))["version"]
    await client.post("/api/charter/accept", {"version": version})
    return client


@pytest.fixture
async def world(servers: Servers) -> AsyncIterator[World]:
    names = ["Léa Martin", "Camille Martin", "Julien Garnier", "Sophie Faure", "Inès Petit",
             "Hugo Bernard", "Chloé Dubois", "Anne Roux"]
    async with servers.server.clients(*names) as a, contextlib.AsyncExitStack() as stack:
        b = {}
        for name in ("Marc Noir", "Zoé Blanc", "Bruno Vert"):
            b[name] = await _second_school_client(servers, name)
            stack.push_async_callback(b[name].close)
        yield await _build(servers.server, a, b, stack)


async def _build(server: LiveServer, a: dict[str, PreauClient], b: dict[str, PreauClient],
                 stack: contextlib.AsyncExitStack) -> World:
    lea, julien = a["Léa Martin"], a["Julien Garnier"]
    sophie, ines, hugo, chloe = (a["Sophie Faure"], a["Inès Petit"], a["Hugo Bernard"],
                                 a["Chloé Dubois"])
    marc, zoe, bruno = b["Marc Noir"], b["Zoé Blanc"], b["Bruno Vert"]
    school_a = (await lea.me())["school"]["id"]
    school_b = (await bruno.me())["school"]["id"]
    room_a, room_b6 = await _room_of(lea, "6eA"), await _room_of(sophie, "6eB")
    room_3c = await _room_of(marc, "3C")
    pid = {name: c.person["id"] for name, c in {**a, **b}.items()}
    found = await a["Anne Roux"].get("/api/directory", q="Julien Bernard")
    pid["Julien Bernard"] = next(p["id"] for p in found["people"])
    sockets = {}
    for name, client in (("Sophie", sophie), ("Inès", ines), ("Hugo", hugo),
                         ("Chloé", chloe), ("Marc", marc), ("Zoé", zoe)):
        sockets[name] = await stack.enter_async_context(await client.connect())
    s_sophie, s_ines, s_marc = sockets["Sophie"], sockets["Inès"], sockets["Marc"]

    # 6eB (Sophie's class): a message, a report of it, a held message, its
    # parents' room, a document with a version, a call with Sophie seated.
    first = await _say(s_ines, room_b6["id"], "bonjour la 6eB")
    report_b6 = (await s_ines.request("chat.report", room=room_b6["id"], seq=first["seq"]))
    await s_sophie.request("room.policy", room=room_b6["id"], premoderation="pupils")
    held = await _say(s_ines, room_b6["id"], "en attente")
    parents_b6 = (await sophie.post(f"/api/classes/{room_b6['class_id']}/parents-room"))
    parents_a = (await julien.post(f"/api/classes/{room_a['class_id']}/parents-room"))
    doc_b6 = await sophie.post("/api/documents", {"class": room_b6["class_id"], "title": "6eB"})
    version_b6 = await sophie.post(f"/api/documents/{doc_b6['id']}/versions", {"name": "v1"})
    doc_a = await julien.post("/api/documents", {"class": room_a["class_id"], "title": "6eA"})
    call_b6 = await s_sophie.request("call.create", room=room_b6["id"])
    seat = await s_sophie.request("call.join", call=call_b6["call"])
    # Conversations: Hugo and Chloé (Léa's classmates), Sophie and Inès.
    hugo_chloe = (await hugo.post("/api/conversations", {"people": [pid["Chloé Dubois"]]}))
    await _say(sockets["Hugo"], hugo_chloe["room"]["id"], "entre nous")
    report_conv = await sockets["Chloé"].request(
        "chat.report", room=hugo_chloe["room"]["id"], seq=1)
    sophie_ines = (await sophie.post("/api/conversations", {"people": [pid["Inès Petit"]]}))
    await _say(s_sophie, sophie_ines["room"]["id"], "bonjour Inès")
    # The other school: a message and its report, a conversation, a document,
    # a version and a call.
    said = await _say(s_marc, room_3c["id"], "bonjour la 3C")
    report_3c = await sockets["Zoé"].request("chat.report", room=room_3c["id"], seq=said["seq"])
    marc_zoe = await marc.post("/api/conversations", {"people": [pid["Zoé Blanc"]]})
    await _say(s_marc, marc_zoe["room"]["id"], "bonjour Zoé")
    doc_3c = await marc.post("/api/documents", {"class": room_3c["class_id"], "title": "3C"})
    version_3c = await marc.post(f"/api/documents/{doc_3c['id']}/versions", {"name": "v1"})
    call_3c = await s_marc.request("call.create", room=room_3c["id"])
    # Web Push devices: Sophie's and Marc's.
    devices = {}
    for name, client in (("Sophie", sophie), ("Marc", marc)):
        point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        devices[name] = (await client.post("/api/push/devices", {
            "endpoint": f"http://127.0.0.1:9/push/{name}",
            "keys": {"p256dh": base64.urlsafe_b64encode(point).decode().rstrip("="),
                     "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}))["id"]

    # Files: sent to 6eB, held there, in a conversation, on 6eB's document,
    # not sent yet; and the other school's.
    pdf = samples.pdf()

    async def upload(client: PreauClient) -> str:
        found: str = (await client.upload("fiche.pdf", pdf, "application/pdf"))["attachment"]["id"]
        return found

    file_b6, file_held = await upload(sophie), await upload(ines)
    await s_sophie.request("chat.send", room=room_b6["id"], txn="f1", body="",
                           attachments=[file_b6])
    await s_ines.request("chat.send", room=room_b6["id"], txn="f2", body="",
                         attachments=[file_held])  # pre-moderated: held
    file_conv = await upload(hugo)
    await sockets["Hugo"].request("chat.send", room=hugo_chloe["room"]["id"], txn="f3",
                                  body="", attachments=[file_conv])
    file_doc = await upload(sophie)
    await sophie.post(f"/api/documents/{doc_b6['id']}/attachments", {"attachments": [file_doc]})
    file_unsent = await upload(ines)
    file_3c = await upload(marc)
    await s_marc.request("chat.send", room=room_3c["id"], txn="f4", body="",
                         attachments=[file_3c])
    files_a_side = [("6eB file", file_b6), ("a held file", file_held),
                    ("a conversation's file", file_conv), ("6eB document's file", file_doc),
                    ("someone's upload not sent", file_unsent),
                    ("other school's file", file_3c)]

    rooms_a_side = [("6eB room", room_b6["id"]), ("6eB parents' room", parents_b6["room"]["id"]),
                    ("Hugo and Chloé's conversation", hugo_chloe["room"]["id"]),
                    ("Sophie and Inès's conversation", sophie_ines["room"]["id"]),
                    ("other school's class room", room_3c["id"]),
                    ("other school's conversation", marc_zoe["room"]["id"])]
    reports_a_side = [("6eB report", report_b6["report"]["id"]),
                      ("a conversation's report", report_conv["report"]["id"]),
                      ("other school's report", report_3c["report"]["id"])]
    docs_a_side = [("6eB document", doc_b6["id"]), ("other school's document", doc_3c["id"])]
    versions_a_side = [("6eB version", version_b6["id"]),
                       ("other school's version", version_3c["id"])]
    calls_a_side = [("6eB call", call_b6["call"]), ("other school's call", call_3c["call"])]
    common = {
        "room": rooms_a_side, "report": reports_a_side, "document": docs_a_side,
        "version": versions_a_side, "call": calls_a_side, "attachment": files_a_side,
        "school": [("other school", school_b)],
        "class": [("6eB", room_b6["class_id"]), ("other school's class", room_3c["class_id"])],
        "held": [("6eB held message", held["id"])],
        "peer": [("Sophie's seat in the 6eB call", seat["peer"])],
        "device": [("Sophie's device", devices["Sophie"]),
                   ("other school's device", devices["Marc"])],
    }
    other_school_people = [("Zoé (other school)", pid["Zoé Blanc"]),
                           ("Marc (other school)", pid["Marc Noir"])]
    out_of_reach = {
        "pupil": {**common, "person": [
            ("Inès (6eB)", pid["Inès Petit"]), ("Hugo's father", pid["Julien Bernard"]),
            *other_school_people]},
        "parent": {**common, "person": [
            ("Hugo (a classmate of her child)", pid["Hugo Bernard"]),
            ("Inès (6eB)", pid["Inès Petit"]), *other_school_people]},
        "teacher": {**common, "person": other_school_people},
        "admin of another school": {
            "room": [("6eA room", room_a["id"]), ("6eB room", room_b6["id"]),
                     ("parents' room", parents_a["room"]["id"]),
                     ("a conversation", hugo_chloe["room"]["id"])],
            "report": reports_a_side[:2], "document": [("6eA document", doc_a["id"])],
            "version": [("6eB version", version_b6["id"])],
            "call": [("6eB call", call_b6["call"])], "school": [("other school", school_a)],
            "attachment": files_a_side[:5],
            "class": [("6eA", room_a["class_id"]), ("6eB", room_b6["class_id"])],
            "held": [("6eB held message", held["id"])],
            "peer": [("Sophie's seat in the 6eB call", seat["peer"])],
            "device": [("Sophie's device", devices["Sophie"]),
                       ("a colleague's device", devices["Marc"])],
            "person": [("Léa", pid["Léa Martin"]), ("Anne (admin)", pid["Anne Roux"]),
                       ("Julien (teacher)", pid["Julien Garnier"])],
        },
    }
    home = {
        "pupil": {"room": room_a["id"], "school": school_a},
        "parent": {"room": parents_a["room"]["id"], "school": school_a},
        "teacher": {"room": room_a["id"], "school": school_a, "document": doc_a["id"]},
        "admin of another school": {"room": room_3c["id"], "school": school_b,
                                    "document": doc_3c["id"], "call": call_3c["call"]},
    }
    clients = {profile: {**a, **b}[name] for profile, name in PROFILES.items()}
    return World(server, clients, home, out_of_reach)
