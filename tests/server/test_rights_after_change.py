"""No right survives its cause: every path × every profile pair × every kind of
directory change (docs/conversations.md, "When a relation ends").

Real servers: the embedded default (SQLite, in-process broker, one node) and
two nodes on PostgreSQL + Redis, where every change is made through node 0 or
by ``preau import`` beside the nodes, and every right is checked through
node 1. The demo school (preau/server/directory/demo.py) gives the people:

- 6eA pupils Chloé Dubois, Nathan Thomas, Manon Robert, Lucas Richard, Hugo
  Bernard; their parents Sandrine Dubois, Karim Thomas, Nathalie Robert,
  Olivier Richard, Julien Bernard; 6eB pupil Adam Laurent;
- teachers Claire Lefèvre (6eA and 6eB), Julien Garnier (6eA), Sophie Faure
  (6eB); staff and admin Anne Roux.

Conversations are opened while their relation holds, one per profile pair and
kind of change; then the changes are made together (a re-import: a class move
and a custody change; the school's ``parents_may_message`` turned off; a
moderator's removal), and at last a rollover without one pupil (leaving the
school). After each, every person of every case is walked through every path
(REST and /ws): ``full`` (posts), ``read`` (reads, a post answers ``closed``),
or ``none`` (every path answers exactly as for a room that does not exist).
Each conversation's first message carries a file (scanned by the session's
clamd, tests/server/conftest.py), and the class room has one: a file is a
path too (its download, whole and by range), answering ``none`` exactly as a
file that does not exist does; and no notification of a person out of reach
names the room (the first message notified the other person). 6eA's
parents' room and its shared document, each with a file, are walked the same
way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from preau_client import LiveConnection, PreauClient, PreauError

from preau.server.directory.demo import demo_csv
from tests.multinode.cluster import Cluster, running_cluster, wait_until
from tests.server.attachments import samples
from tests.server.live import LiveServer
from tests.services import fresh_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROPAGATION_S = 20.0  # a budget, not a measurement: nodes poll every 0.2 s here


@dataclass(frozen=True)
class Case:
    """A conversation opened by ``opener`` with ``other`` before the changes,
    and what each may do after them (``full``, ``read`` or ``none``)."""

    name: str
    opener: str
    other: str
    after: dict[str, str]


# Phase 1: one re-import (class move, custody change), a setting turned off.
CASES = [
    # Class move: Chloé leaves 6eA for 6eB. Pupils of different classes: the
    # conversation closes and both lose it (a minor's words stay with who may
    # still reach that minor).
    Case("pupil-pupil/class-move", "Chloé Dubois", "Nathan Thomas",
         {"Chloé Dubois": "none", "Nathan Thomas": "none"}),
    # Her parent's classes follow her: Garnier (6eA only) is out of reach.
    Case("parent-teacher/class-move", "Sandrine Dubois", "Julien Garnier",
         {"Sandrine Dubois": "read", "Julien Garnier": "read"}),
    # Custody change: Karim is no longer Nathan's parent (now Manon's).
    Case("parent-child/custody", "Karim Thomas", "Nathan Thomas",
         {"Karim Thomas": "none", "Nathan Thomas": "read"}),
    Case("child-parent/custody", "Nathan Thomas", "Karim Thomas",
         {"Karim Thomas": "none", "Nathan Thomas": "read"}),
    # parents_may_message turned off.
    Case("parent-parent/setting-off", "Nathalie Robert", "Olivier Richard",
         {"Nathalie Robert": "read", "Olivier Richard": "read"}),
    # Untouched by every change: still open.
    Case("pupil-teacher/control", "Hugo Bernard", "Claire Lefèvre",
         {"Hugo Bernard": "full", "Claire Lefèvre": "full"}),
    Case("parent-teacher/control", "Julien Bernard", "Claire Lefèvre",
         {"Julien Bernard": "full", "Claire Lefèvre": "full"}),
    # A moderator's removal from the class room leaves conversations alone.
    Case("pupil-teacher/removed-from-class", "Lucas Richard", "Julien Garnier",
         {"Lucas Richard": "full", "Julien Garnier": "full"}),
]
# Phase 2: a rollover that no longer lists Adam (he left the school).
LEAVING = Case("pupil-teacher/left-school", "Adam Laurent", "Sophie Faure",
               {"Adam Laurent": "gone", "Sophie Faure": "read"})

# Class rooms after phase 1: who may still use 6eA.
CLASS_ROOM_AFTER = {
    "Chloé Dubois": "none",   # moved to 6eB
    "Lucas Richard": "none",  # removed by a moderator
    "Nathan Thomas": "full",
    "Hugo Bernard": "full",
}

# 6eA's parents' room after phase 1: the parents of its pupils only.
PARENTS_ROOM_AFTER = {
    "Sandrine Dubois": "none",  # her child moved to 6eB
    "Karim Thomas": "full",     # now Manon's parent, in 6eA too
    "Julien Bernard": "full",
}

# 6eA's shared document (with a file) after phase 1: "edit" (opens it, reads
# its file) or "none" (every document path as for a document that does not
# exist). A pupil of 6eB never had it: the control.
DOCUMENT_AFTER = {
    "Chloé Dubois": "none",   # moved to 6eB
    "Lucas Richard": "none",  # removed from the class room by a moderator
    "Nathan Thomas": "edit",
    "Adam Laurent": "none",   # 6eB all along
}

# People a person may or may not look up after phase 1 (/api/people, /api/directory).
LOOKUPS_AFTER = [
    ("Sandrine Dubois", "Julien Garnier", False),  # her child moved: not his class now
    ("Sandrine Dubois", "Sophie Faure", True),     # the new class's teacher
    ("Karim Thomas", "Nathan Thomas", False),      # custody lost
    ("Karim Thomas", "Manon Robert", True),        # custody gained
    ("Nathalie Robert", "Olivier Richard", False),  # parents' setting off
    ("Chloé Dubois", "Nathan Thomas", False),      # former classmate
    ("Chloé Dubois", "Adam Laurent", True),        # new classmate
]


def changed_csv(*, leaving: str | None = None) -> str:
    """The demo school's file with Chloé (E003) in 6eB and Karim (P004)
    parent of Manon (E005) instead of Nathan (E004); without ``leaving``."""
    lines = []
    for line in demo_csv().splitlines():
        if line.startswith("E003;"):
            line = line.replace(";6eA;", ";6eB;")
        if line.startswith("P004;"):
            line = line.replace(";E004;", ";E005;")
        if leaving is not None and line.startswith(f"{leaving};"):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


# -- the deployments -------------------------------------------------------------


class Deployment:
    """Where changes are made (node 0, the CLI) and rights are checked (the last node)."""

    def __init__(self, nodes: list[LiveServer], cli_env: dict[str, str], client: Any) -> None:
        self.nodes = nodes
        self.cli_env = cli_env
        self._client = client
        self.clients: dict[str, PreauClient] = {}
        self.files: dict[str, str] = {}  # room or document → its file

    async def person(self, name: str) -> PreauClient:
        """``name`` logged in through the checking node."""
        if name not in self.clients:
            self.clients[name] = await self._client(name, len(self.nodes) - 1)
        return self.clients[name]

    def preau_import(self, csv: str, *extra: str) -> None:
        path = Path(self.cli_env["PREAU_DATA_DIR"]) / f"import-{secrets.token_hex(3)}.csv"
        path.write_text(csv, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "preau.server.cli", "import", str(path), "--school", "0000001D",
             *extra],
            cwd=ROOT, env=self.cli_env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    async def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()


FAST = {"PREAU_DIRECTORY_POLL_S": "0.2", "PREAU_SENDS_PER_S": "50", "PREAU_SENDS_BURST": "200"}


@contextlib.contextmanager
def embedded(base: Path, env: dict[str, str]) -> Iterator[Deployment]:
    server = LiveServer(base / "embedded", env).start()
    try:
        env = {**server.env, "PREAU_DATA_DIR": str(server.data_dir)}

        async def client(name: str, _node: int) -> PreauClient:
            return await server.client(name)

        yield Deployment([server], env, client)
    finally:
        server.stop()


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres+redis", marks=[
    pytest.mark.postgres, pytest.mark.redis])])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, clamd_address: str
) -> AsyncIterator[Deployment]:
    env = {**FAST, "PREAU_ATTACHMENT_CLAMD": clamd_address}
    if request.param == "sqlite":
        with embedded(tmp_path, env) as found:
            try:
                yield found
            finally:
                await found.close()
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    redis_url: str = request.getfixturevalue("redis_clean_url")
    async with fresh_database(server_url) as store_url:
        with running_cluster(tmp_path, store_url, redis_url, 2, env) as cluster:
            cli_env = {**os.environ, "PREAU_STORE_URL": store_url, "PREAU_BROKER_URL": redis_url,
                       "PREAU_DATA_DIR": str(tmp_path)}
            found = Deployment(cluster.nodes, cli_env, _cluster_client(cluster))
            try:
                yield found
            finally:
                await found.close()


def _cluster_client(cluster: Cluster) -> Any:
    async def client(name: str, node: int) -> PreauClient:
        return await cluster.client(name, node)
    return client


# -- the paths ---------------------------------------------------------------------


async def refusal(call: Any) -> tuple[str, str, int | None]:
    with pytest.raises(PreauError) as caught:
        await call
    return caught.value.code, caught.value.message, caught.value.status


async def download(client: PreauClient, attachment: str, **headers: str) -> Any:
    """A file's download: "ok", or what was answered instead."""
    response = await client.http.get(f"/api/attachments/{attachment}", headers=headers)
    return "ok" if response.status_code in (200, 206) else (
        response.status_code, response.headers.get("content-type"), response.content)


async def answers(client: PreauClient, conn: LiveConnection, room: str,
                  attachment: str) -> dict[str, Any]:
    """What every room path answers ``client`` for ``room`` (and ``attachment``,
    a file of its first message): a value or ``(code, message)``."""
    found: dict[str, Any] = {
        "GET attachment": await download(client, attachment),
        "GET attachment range": await download(client, attachment, range="bytes=0-3"),
    }

    async def attempt(path: str, call: Any) -> None:
        try:
            await call
            found[path] = "ok"
        except PreauError as exc:
            found[path] = (exc.code, exc.message, exc.status)

    await attempt("GET messages", client.get(f"/api/rooms/{room}/messages"))
    await attempt("GET policy", client.get(f"/api/rooms/{room}/policy"))
    await attempt("GET members", client.get(f"/api/rooms/{room}/members"))
    await attempt("room.subscribe", conn.request("room.subscribe", room=room))
    await attempt("presence.list", conn.request("presence.list", room=room))
    await attempt("chat.receipts", conn.request("chat.receipts", room=room))
    await attempt("member.list", conn.request("member.list", room=room))
    await attempt("chat.send", conn.request(
        "chat.send", room=room, txn=secrets.token_hex(8), body="Toujours là ?"))
    await attempt("chat.react", conn.request("chat.react", room=room, seq=1, reaction="like"))
    await attempt("PUT reaction", client.put(f"/api/rooms/{room}/messages/1/reactions/like"))
    await attempt("GET search", client.get(f"/api/rooms/{room}/search", q="là"))
    # Message 1 is the opener's: the other person is refused as any non-author.
    await attempt("chat.edit", conn.request("chat.edit", room=room, seq=1, body="Modifié"))
    await attempt("PUT message", client.put(f"/api/rooms/{room}/messages/1",
                                            {"body": "Modifié encore"}))
    return found


async def assert_access(
    deployment: Deployment, name: str, room: str, expected: str, where: str
) -> None:
    client = await deployment.person(name)
    async with await client.connect() as conn:
        got = await answers(client, conn, room, deployment.files[room])
        unknown = await answers(client, conn, "r_" + secrets.token_hex(8),
                                "a_" + secrets.token_urlsafe(12))
        listed = {r["id"]: r for r in (await client.get("/api/rooms"))["rooms"]}
        notified = orjson.dumps((await client.get("/api/notifications"))["notifications"])
    context = f"{where}: {name} in {room}"
    if expected == "none":
        # Exactly what a room that does not exist answers, path by path.
        assert got == unknown, context
        assert room not in listed, context
        # Nor is it named by any of their notifications (the first message's).
        assert room.encode() not in notified, context
        return
    # (members lists are for moderators: only their "none" answer is compared)
    reading = {k: v for k, v in got.items()
               if k not in ("chat.send", "member.list", "GET members", "chat.react",
                            "PUT reaction", "chat.edit", "PUT message")}
    assert set(reading.values()) == {"ok"}, f"{context}: {reading}"
    assert room in listed, context
    if expected == "full":
        assert got["chat.send"] == "ok", context
        assert not listed[room].get("closed"), context
    else:
        assert got["chat.send"][0] == "closed", f"{context}: {got['chat.send']}"
        assert listed[room].get("closed") is True, context


async def document_answers(client: PreauClient, document: str,
                           attachment: str) -> dict[str, Any]:
    """What every document path answers ``client`` (REST; the live upgrade is
    tests/server/documents' part), and the download of ``attachment``."""
    found: dict[str, Any] = {}
    for path in ("", "/versions", "/history", "/export", "/attachments"):
        try:
            await client.get(f"/api/documents/{document}{path}")
            found[path or "GET"] = "ok"
        except PreauError as exc:
            found[path or "GET"] = (exc.code, exc.message, exc.status)
    found["GET attachment"] = await download(client, attachment)
    return found


async def assert_document_access(
    deployment: Deployment, name: str, document: str, expected: str, where: str
) -> None:
    client = await deployment.person(name)
    got = await document_answers(client, document, deployment.files[document])
    unknown = await document_answers(client, "doc-" + secrets.token_hex(8),
                                     "a_" + secrets.token_urlsafe(12))
    listed = {d["id"] for d in (await client.get("/api/documents"))["documents"]}
    context = f"{where}: {name} and the document"
    if expected == "none":
        assert got == unknown, context
        assert document not in listed, context
    else:
        # Its edit history is the class's teachers' (docs/collab.md): refused,
        # not hidden, to a pupil who may open the document.
        assert got.pop("/history")[0] == "forbidden", context
        assert set(got.values()) == {"ok"}, f"{context}: {got}"
        assert document in listed, context


async def wait_for(predicate: Any, what: str) -> None:
    try:
        await wait_until(predicate, PROPAGATION_S, interval=0.1)
    except TimeoutError:
        pytest.fail(f"not within {PROPAGATION_S} s: {what}")


async def person_id(deployment: Deployment, name: str) -> str:
    return str((await (await deployment.person(name)).me())["person"]["id"])


async def may_look_up(deployment: Deployment, viewer: str, target: str) -> bool:
    client = await deployment.person(viewer)
    target_id = await person_id(deployment, target)
    answer: Any = None
    try:
        await client.get(f"/api/people/{target_id}")
    except PreauError as exc:
        answer = (exc.code, exc.message, exc.status)
    card = answer is None
    if not card:
        unknown = await refusal(client.get(f"/api/people/p_{secrets.token_hex(8)}"))
        assert answer == unknown, f"{viewer} → {target} leaks existence"
    found = (await client.get("/api/directory", q=target.split()[0]))["people"]
    assert card == any(p["id"] == target_id for p in found), f"{viewer} → {target}"
    return card


# -- the test ----------------------------------------------------------------------


async def test_no_right_survives_its_cause(deployment: Deployment) -> None:
    anne = await deployment.person("Anne Roux")
    school = (await anne.me())["school"]["id"]
    await anne.put(f"/api/schools/{school}/settings", {"parents_may_message": True})
    await wait_for(lambda: may_look_up(deployment, "Nathalie Robert", "Olivier Richard"),
                   "parents_may_message on")

    rooms: dict[str, str] = {}
    for case in [*CASES, LEAVING]:
        opener = await deployment.person(case.opener)
        opened = await opener.post("/api/conversations",
                                   {"people": [await person_id(deployment, case.other)]})
        rooms[case.name] = opened["room"]["id"]
        await _send_with_file(deployment, opener, rooms[case.name], f"Bonjour ({case.name})")
    class_a = next(r["id"] for r in (await anne.me())["rooms"] if r["name"] == "6eA")
    await _send_with_file(deployment, await deployment.person("Claire Lefèvre"), class_a,
                          "La fiche pour demain")
    class_a_id = next(r["class_id"] for r in (await anne.me())["rooms"] if r["id"] == class_a)
    parents_a = (await (await deployment.person("Claire Lefèvre")).post(
        f"/api/classes/{class_a_id}/parents-room"))["room"]["id"]
    await _send_with_file(deployment, await deployment.person("Julien Bernard"), parents_a,
                          "Sortie de vendredi")
    document = await _document_with_file(deployment, await deployment.person("Claire Lefèvre"),
                                         class_a_id)
    # Whoever will lose a conversation was notified of its first message:
    # after the change that notification is not listed any more.
    for case in CASES:
        if case.after.get(case.other) == "none":
            await wait_for(lambda c=case: _notified(deployment, c.other, rooms[c.name]),
                           f"{case.other} notified in {case.name}")

    # Live sockets through the changes: each person subscribed to everything.
    watchers: dict[str, LiveConnection] = {}
    for name in {*CLASS_ROOM_AFTER, *PARENTS_ROOM_AFTER, *(n for c in CASES for n in c.after)}:
        conn = await (await deployment.person(name)).connect()
        watchers[name] = conn
        for case in CASES:
            if name in case.after:
                await conn.subscribe(rooms[case.name])
        if name in CLASS_ROOM_AFTER:
            await conn.subscribe(class_a)
        if name in PARENTS_ROOM_AFTER:
            await conn.subscribe(parents_a)
    try:
        # -- phase 1: the changes ------------------------------------------------
        deployment.preau_import(changed_csv())
        await anne.put(f"/api/schools/{school}/settings", {"parents_may_message": False})
        claire = await deployment.person("Claire Lefèvre")
        async with await claire.connect() as conn:
            await conn.request("member.remove", room=class_a,
                               person=await person_id(deployment, "Lucas Richard"))
        chloe = await deployment.person("Chloé Dubois")
        await wait_for(lambda: _rooms_lack(chloe, class_a), "Chloé's move reaches the node")
        await wait_for(lambda: _not_reachable(deployment, "Nathalie Robert", "Olivier Richard"),
                       "parents_may_message off reaches the node")

        where = "after class move, custody change, setting off, removal"
        for case in CASES:
            for name, expected in case.after.items():
                await assert_access(deployment, name, rooms[case.name], expected,
                                    f"{where} [{case.name}]")
        for name, expected in CLASS_ROOM_AFTER.items():
            await assert_access(deployment, name, class_a, expected, f"{where} [6eA]")
        for name, expected in PARENTS_ROOM_AFTER.items():
            await assert_access(deployment, name, parents_a, expected, f"{where} [parents 6eA]")
        for name, expected in DOCUMENT_AFTER.items():
            await assert_document_access(deployment, name, document, expected,
                                         f"{where} [document]")
        for viewer, target, allowed in LOOKUPS_AFTER:
            assert await may_look_up(deployment, viewer, target) is allowed, (viewer, target)
        # A parent now reaches only their children's teachers: a conversation
        # with another class's teacher is refused like an unknown person.
        sandrine = await deployment.person("Sandrine Dubois")
        garnier = await person_id(deployment, "Julien Garnier")
        assert await refusal(sandrine.post("/api/conversations", {"people": [garnier]})) == \
            await refusal(sandrine.post("/api/conversations",
                                        {"people": ["p_" + secrets.token_hex(8)]}))

        # Live sockets were told: revoked where the right is gone, closed where
        # it became read-only.
        for case in CASES:
            for name, expected in case.after.items():
                if expected == "none":
                    await _event(watchers[name], "room.revoked", rooms[case.name])
                elif expected == "read":
                    await _event(watchers[name], "conversation.closed", rooms[case.name])
        for name, expected in CLASS_ROOM_AFTER.items():
            if expected == "none":
                await _event(watchers[name], "room.revoked", class_a)
        for name, expected in PARENTS_ROOM_AFTER.items():
            if expected == "none":
                await _event(watchers[name], "room.revoked", parents_a)

        # -- phase 2: Adam leaves the school (a rollover without him) ------------------
        adam = await deployment.person("Adam Laurent")
        deployment.preau_import(changed_csv(leaving="E012"), "--rollover")
        await wait_for(lambda: _session_ended(adam), "Adam's sessions end")
        sophie = await deployment.person("Sophie Faure")
        await wait_for(lambda: _listed_closed(sophie, rooms[LEAVING.name]),
                       "Adam's departure reaches the node's directory")
        await assert_access(deployment, "Sophie Faure", rooms[LEAVING.name], "read",
                            "after leaving the school")
    finally:
        for conn in watchers.values():
            with contextlib.suppress(Exception):
                await conn.close()


async def _send_with_file(deployment: Deployment, sender: PreauClient, room: str,
                          body: str) -> None:
    """Post ``body`` in ``room`` with a worksheet, scanned and ready; the
    file is remembered as the room's."""
    sheet = (await sender.upload("fiche.pdf", samples.pdf(), "application/pdf"))["attachment"]
    assert sheet["state"] == "ready", sheet
    async with await sender.connect() as conn:
        await conn.send_message(room, body, attachments=[sheet["id"]])
    deployment.files[room] = sheet["id"]


async def _document_with_file(deployment: Deployment, teacher: PreauClient,
                              class_id: str) -> str:
    """A class document with a worksheet attached; its file remembered."""
    document = str((await teacher.post("/api/documents",
                                       {"class": class_id, "title": "Exposé"}))["id"])
    sheet = (await teacher.upload("fiche.pdf", samples.pdf(), "application/pdf"))["attachment"]
    await teacher.post(f"/api/documents/{document}/attachments", {"attachments": [sheet["id"]]})
    deployment.files[document] = sheet["id"]
    return document


async def _notified(deployment: Deployment, name: str, room: str) -> bool:
    listed = (await (await deployment.person(name)).get("/api/notifications"))["notifications"]
    return any((n.get("room") or {}).get("id") == room for n in listed)


async def _rooms_lack(client: PreauClient, room: str) -> bool:
    return room not in {r["id"] for r in (await client.get("/api/rooms"))["rooms"]}


async def _listed_closed(client: PreauClient, room: str) -> bool:
    listed = {r["id"]: r for r in (await client.get("/api/rooms"))["rooms"]}
    return bool(listed.get(room, {}).get("closed"))


async def _not_reachable(deployment: Deployment, viewer: str, target: str) -> bool:
    return not await may_look_up(deployment, viewer, target)


async def _session_ended(client: PreauClient) -> bool:
    try:
        await client.me()
    except PreauError as exc:
        return exc.code == "unauthenticated"
    return False


_SEEN: dict[int, list[dict[str, Any]]] = {}


async def _event(conn: LiveConnection, name: str, room: str) -> None:
    """Wait until ``conn`` was sent event ``name`` about ``room`` (events of
    other kinds are kept for later checks)."""
    seen = _SEEN.setdefault(id(conn), [])

    def found() -> bool:
        while not conn.events.empty():
            seen.append(conn.events.get_nowait())
        return any(e.get("ev") == name and e.get("room") == room for e in seen)

    await wait_for(found, f"{name} for {room}")
