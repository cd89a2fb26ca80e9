"""A communication rule changed in the admin console takes effect like any
directory change (tests/server/test_rights_after_change.py, whose
deployments and path walks this reuses): on the embedded default and on two
nodes over PostgreSQL + Redis, the rule changed through node 0 and every
right checked through node 1, on every REST and /ws path.

6eA's pupils are no longer among themselves and its parents and teachers no
longer reach each other: two classmates both lose their conversation, a
parent and a 6eA teacher keep theirs read-only, live sockets are told, the
directory and new conversations follow, while the class room (which follows
classes, not rules) and a pupil-teacher conversation stay. Then a rule the
defaults lack (the school's parents among themselves) opens a door, and the
defaults put back close it again; conversations closed stay closed.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import pytest
from preau_client import LiveConnection, PreauClient

from tests.server import test_rights_after_change as after_change
from tests.server.test_rights_after_change import (
    Deployment,
    _event,
    _send_with_file,
    assert_access,
    may_look_up,
    person_id,
    refusal,
    wait_for,
)

# The same deployments: the embedded default, two nodes on PostgreSQL + Redis.
deployment = after_change.deployment

pytestmark = pytest.mark.slow

CONVERSATIONS = {
    "pupils": ("Chloé Dubois", "Nathan Thomas", {"Chloé Dubois": "none",
                                                 "Nathan Thomas": "none"}),
    "parent-teacher": ("Sandrine Dubois", "Julien Garnier", {"Sandrine Dubois": "read",
                                                             "Julien Garnier": "read"}),
    "control": ("Hugo Bernard", "Claire Lefèvre", {"Hugo Bernard": "full",
                                                   "Claire Lefèvre": "full"}),
}


async def _groups(anne: PreauClient, school: str) -> dict[tuple[str, str], str]:
    shown = (await anne.get(f"/api/schools/{school}/rules"))["groups"]
    return {(g["scope_name"] if g["scope"] != "school" else "school", g["profile"]): g["id"]
            for g in shown}


async def _not(predicate: Any) -> bool:
    return not await predicate


async def test_a_rule_change_reaches_every_path_on_every_node(deployment: Deployment) -> None:
    anne = await deployment.person("Anne Roux")
    school = (await anne.me())["school"]["id"]
    base = f"/api/schools/{school}/rules"
    group = await _groups(anne, school)
    rooms: dict[str, str] = {}
    for name, (opener, other, _) in CONVERSATIONS.items():
        client = await deployment.person(opener)
        opened = await client.post("/api/conversations",
                                   {"people": [await person_id(deployment, other)]})
        rooms[name] = opened["room"]["id"]
        await _send_with_file(deployment, client, rooms[name], f"Bonjour ({name})")
    class_a = next(r["id"] for r in (await anne.me())["rooms"] if r["name"] == "6eA")
    await _send_with_file(deployment, await deployment.person("Claire Lefèvre"), class_a,
                          "La fiche pour demain")
    watchers: dict[str, LiveConnection] = {}
    for name, (_, _, after) in CONVERSATIONS.items():
        for person in after:
            if person not in watchers:
                watchers[person] = await (await deployment.person(person)).connect()
            await watchers[person].subscribe(rooms[name])
    await watchers["Chloé Dubois"].subscribe(class_a)
    try:
        pupils = group[("6eA", "pupil")]
        parents, teachers = group[("6eA", "parent")], group[("6eA", "teacher")]
        for a, b in ((pupils, pupils), (parents, teachers), (teachers, parents)):
            assert (await anne.post(f"{base}/links/remove", {"from": a, "to": b})) == {
                "changed": True}
        await wait_for(lambda: _not(may_look_up(deployment, "Sandrine Dubois",
                                                "Julien Garnier")), "the rule reaches the node")
        where = "after 6eA's rules were narrowed"
        for name, (_, _, after) in CONVERSATIONS.items():
            for person, expected in after.items():
                await assert_access(deployment, person, rooms[name], expected,
                                    f"{where} [{name}]")
                if expected == "none":
                    await _event(watchers[person], "room.revoked", rooms[name])
                elif expected == "read":
                    await _event(watchers[person], "conversation.closed", rooms[name])
        await assert_access(deployment, "Chloé Dubois", class_a, "full", f"{where} [6eA]")
        assert not await may_look_up(deployment, "Chloé Dubois", "Nathan Thomas")
        assert await may_look_up(deployment, "Chloé Dubois", "Claire Lefèvre")
        # A new conversation across the removed rule: refused like an unknown person.
        sandrine = await deployment.person("Sandrine Dubois")
        garnier = await person_id(deployment, "Julien Garnier")
        assert await refusal(sandrine.post("/api/conversations", {"people": [garnier]})) == \
            await refusal(sandrine.post("/api/conversations",
                                        {"people": ["p_" + secrets.token_hex(8)]}))

        # A rule the defaults lack: the school's parents among themselves.
        everyone = group[("school", "parent")]
        await anne.post(f"{base}/links", {"from": everyone, "to": everyone})
        await wait_for(lambda: may_look_up(deployment, "Nathalie Robert", "Olivier Richard"),
                       "the added rule reaches the node")
        nathalie = await deployment.person("Nathalie Robert")
        opened = await nathalie.post("/api/conversations", {
            "people": [await person_id(deployment, "Olivier Richard")]})
        await _send_with_file(deployment, nathalie, opened["room"]["id"], "Bonjour Olivier")
        await assert_access(deployment, "Olivier Richard", opened["room"]["id"], "full",
                            "after the parents' rule was added")

        # The defaults again: the door closes, what was closed stays closed.
        assert (await anne.post(f"{base}/reset", {})) == {"added": 3, "removed": 1}
        await wait_for(lambda: _not(may_look_up(deployment, "Nathalie Robert",
                                                "Olivier Richard")), "the reset reaches the node")
        assert await may_look_up(deployment, "Sandrine Dubois", "Julien Garnier")
        await assert_access(deployment, "Olivier Richard", opened["room"]["id"], "read",
                            "after the reset")
        await assert_access(deployment, "Sandrine Dubois", rooms["parent-teacher"], "read",
                            "after the reset")
        assert (await anne.get(base))["is_default"] is True
        journal = (await anne.get(f"/api/schools/{school}/audit"))["entries"]
        actions = [e["action"] for e in journal if e["action"].startswith("rules.")]
        assert sorted(actions) == sorted(["rules.link_remove"] * 3
                                         + ["rules.link_add", "rules.reset"])
    finally:
        for conn in watchers.values():
            with contextlib.suppress(Exception):
                await conn.close()
