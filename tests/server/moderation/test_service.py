"""Moderation across two nodes in one process: two hubs on one in-memory bus,
one SQLite file (as two processes share Redis and PostgreSQL).

What one node commits, the other enforces on its next call (the store is
read in the transaction, no cache), and live events reach the right part of
each room on every node.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import orjson
import pytest

from preau.server.directory.model import Member
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.channels import Audience, pack, unpack
from preau.server.live.connection import Connection
from preau.server.moderation.rules import PolicyChange, Premoderation, RoomMode
from preau.server.services import Services
from preau.server.store import AuditAction, AuditQuery
from tests.server.twonodes import Nodes, demo_with_class_move, two_nodes


class Client:
    """A person's socket on a node, subscribed as the gateway does it."""

    def __init__(self, nodes: Nodes, node: Services, name: str) -> None:
        self.node = node
        self.member: Member = nodes.member(node, name)
        self.conn: Connection
        self.conn, self.recorder = nodes.connect(node, self.member)

    async def subscribe(self, room: str, since: int | None = None) -> None:
        await self.node.chat.open_room(self.member, room)
        await self.node.hub.subscribe(self.conn, room, since, lambda fields: None)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [f for f in self.recorder.frames if f.get("ev") == name]

    def seen(self) -> list[str]:
        """Event names received, presence and the tests' barriers aside."""
        return [f["ev"] for f in self.recorder.frames
                if "ev" in f and not f["ev"].startswith(("presence.", "test."))]

    async def wait(self, name: str, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.events(name)) < count:
                self.recorder.arrived.clear()
                await self.recorder.arrived.wait()
        return self.events(name)


class Removals:
    """The removal notices a node has applied (its hub's removal listener)."""

    def __init__(self, node: Services) -> None:
        self.seen: list[tuple[str, str, bool]] = []
        self._arrived = asyncio.Event()
        node.hub.on_removal(self._heard)

    async def _heard(self, room: str, person: str, removed: bool) -> None:
        self.seen.append((room, person, removed))
        self._arrived.set()

    async def wait(self, room: str, person: str, removed: bool) -> None:
        async with asyncio.timeout(5):
            while (room, person, removed) not in self.seen:
                self._arrived.clear()
                await self._arrived.wait()


async def barrier(nodes: Nodes, *watchers: Client, room: str | None = None,
                  probe: str = "Anne Roux") -> None:
    """Everything published so far (on ``room``'s channel, and to people) has
    reached ``watchers``: proven by later events, not by waiting a while.

    The broker keeps each channel's order and each node handles a channel's
    messages one by one. With ``room``, a probe subscribed on each node
    receives a marker published on the room by each node after what the test
    did (``probe``: someone who may read the room; the school's staff by
    default): once both probes have both markers, both nodes have handed every
    earlier event of the room to their sockets. Then each node tells the
    watchers a marker on the people channel; a watcher that has both has
    every earlier event meant for it (its socket writes in order).
    """
    token = secrets.token_hex(4)
    if room is not None:
        probes = [Client(nodes, node, probe) for node in (nodes.a, nodes.b)]
        for probe in probes:
            await probe.subscribe(room)
        for node in (nodes.a, nodes.b):
            await node.hub.publish_ephemeral(room, orjson.dumps(
                {"ev": "test.barrier", "token": token, "node": node.broker.node_id}))
        for probe in probes:
            await probe.wait("test.barrier", 2)
            await probe.node.hub.unregister(probe.conn)
    for node in (nodes.a, nodes.b):
        await node.hub.tell_people([w.member.id for w in watchers], orjson.dumps(
            {"ev": "test.flushed", "token": token, "node": node.broker.node_id}))
    for watcher in watchers:
        async with asyncio.timeout(5):
            while sum(f.get("token") == token for f in watcher.events("test.flushed")) < 2:
                watcher.recorder.arrived.clear()
                await watcher.recorder.arrived.wait()


def test_audience_travels_in_the_header() -> None:
    packed = pack("a", 0, None, b'{"ev":"x"}', Audience(frozenset({"p2", "p1"}), True))
    assert unpack(packed) == ("a", 0, None, b'{"ev":"x"}', Audience(frozenset({"p1", "p2"}), True))
    assert unpack(pack("m", 5, None, b"{}")) == ("m", 5, None, b"{}", None)


async def test_a_held_message_reaches_its_author_and_the_moderators_only(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire_a = nodes.member(nodes.a, "Claire Lefèvre")
    await nodes.a.moderation.set_policy(claire_a, room, PolicyChange(
        premoderation=Premoderation.PUPILS), None)
    lea = Client(nodes, nodes.a, "Léa Martin")
    claire = Client(nodes, nodes.b, "Claire Lefèvre")
    anne = Client(nodes, nodes.a, "Anne Roux")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    for client in (lea, claire, anne, hugo):
        await client.subscribe(room)

    sent = await nodes.a.chat.send(lea.member, room, "txn-1", "Puis-je sortir ?")
    assert sent.held is not None
    assert sent.message is None
    assert sent.created
    for client in (lea, claire, anne):
        [held] = await client.wait("chat.held")
        assert (held["id"], held["body"], held["status"], held["txn"]) == (
            sent.held.id, "Puis-je sortir ?", "pending", "txn-1")
    await barrier(nodes, hugo, room=room)
    assert hugo.seen() == []
    assert [h["id"] for h in await nodes.b.moderation.held(claire.member, room)] == [sent.held.id]
    assert await nodes.b.moderation.held(hugo.member, room) == []
    assert [h["id"] for h in await nodes.b.moderation.held(lea.member, room)] == [sent.held.id]
    with pytest.raises(PreauError) as refused:
        await nodes.b.moderation.decide(hugo.member, room, sent.held.id, True, None)
    assert refused.value.code is ErrorCode.FORBIDDEN

    # Approved on node B: everyone gets it as a message, with Léa's txn.
    out = await nodes.b.moderation.decide(claire.member, room, sent.held.id, True, None)
    assert out["held"]["status"] == "approved"
    assert out["duplicate"] is False
    for client in (lea, claire, anne, hugo):
        [message] = await client.wait("chat.message")
        assert (message["seq"], message["txn"], message["sender"]["id"], message["body"]) == (
            1, "txn-1", lea.member.id, "Puis-je sortir ?")
    for client in (lea, claire, anne):
        [approved] = await client.wait("chat.approved")
        assert (approved["id"], approved["seq"]) == (sent.held.id, 1)
    await barrier(nodes, hugo, room=room)
    assert hugo.events("chat.approved") == []
    # Deciding twice: the same answer, nothing new; rejecting now is a conflict.
    again = await nodes.a.moderation.decide(anne.member, room, sent.held.id, True, None)
    assert again["duplicate"] is True
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.decide(anne.member, room, sent.held.id, False, "non")
    assert refused.value.code is ErrorCode.CONFLICT
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.decide(anne.member, room, "h_unknown", True, None)
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_a_rejected_message_never_reaches_the_other_pupils(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.b, "Claire Lefèvre")
    lea = Client(nodes, nodes.a, "Léa Martin")
    hugo = Client(nodes, nodes.a, "Hugo Bernard")
    for client in (claire, lea, hugo):
        await client.subscribe(room)
    await nodes.b.moderation.set_policy(claire.member, room, PolicyChange(
        premoderation=Premoderation.EVERYONE), "trop de bavardages")
    await hugo.wait("room.policy")
    sent = await nodes.a.chat.send(lea.member, room, "t", "bêtise")
    assert sent.held is not None
    await claire.wait("chat.held")
    await nodes.b.moderation.decide(claire.member, room, sent.held.id, False, "pas ici")
    [rejected] = await lea.wait("chat.rejected")
    assert (rejected["id"], rejected["reason"], rejected["by"]["name"]) == (
        sent.held.id, "pas ici", "Claire Lefèvre")
    await claire.wait("chat.rejected")
    await barrier(nodes, hugo, room=room)
    assert hugo.seen() == ["room.policy"]
    assert await nodes.a.store.room_head(room) == 0
    [mine] = await nodes.a.moderation.held(lea.member, room)
    assert (mine["status"], mine["reason"]) == ("rejected", "pas ici")


async def test_a_mute_set_on_one_node_is_enforced_on_the_other(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    for client in (claire, lea, hugo):
        await client.subscribe(room)
    state, changed = await nodes.a.moderation.moderate_member(
        claire.member, room, lea.member.id, AuditAction.MEMBER_MUTE, "calme",
        duration_s=600)
    assert changed
    assert state.muted_until_ms is not None
    [notice] = await lea.wait("member.muted")
    assert (notice["until"], notice["reason"]) == (state.muted_until_ms, "calme")
    await claire.wait("member.muted")
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.send(lea.member, room, "t1", "encore")
    assert (refused.value.code, refused.value.until) == (ErrorCode.MUTED, state.muted_until_ms)
    await nodes.b.chat.send(hugo.member, room, "t2", "moi je peux")
    await barrier(nodes, hugo, room=room)
    assert hugo.events("member.muted") == []
    await nodes.a.moderation.moderate_member(claire.member, room, lea.member.id,
                                             AuditAction.MEMBER_UNMUTE, None)
    await lea.wait("member.unmuted")
    assert (await nodes.b.chat.send(lea.member, room, "t3", "merci")).created
    # Teachers and staff cannot be muted; strangers are not found.
    anne = nodes.member(nodes.a, "Anne Roux")
    for target, code in ((anne.id, ErrorCode.FORBIDDEN),
                         (nodes.member(nodes.a, "Inès Petit").id, ErrorCode.NOT_FOUND),
                         ("nobody", ErrorCode.NOT_FOUND)):
        with pytest.raises(PreauError) as refused:
            await nodes.a.moderation.moderate_member(claire.member, room, target,
                                                     AuditAction.MEMBER_MUTE, None, duration_s=5)
        assert refused.value.code is code
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.moderate_member(hugo.member, room, lea.member.id,
                                                 AuditAction.MEMBER_MUTE, None, duration_s=5)
    assert refused.value.code is ErrorCode.FORBIDDEN


async def test_a_removed_pupil_loses_the_room_on_every_node_at_once(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    hugo_b = Client(nodes, nodes.b, "Hugo Bernard")
    hugo_a = Client(nodes, nodes.a, "Hugo Bernard")  # a second socket, on the other node
    for client in (claire, hugo_a, hugo_b):
        await client.subscribe(room)
    await nodes.a.moderation.moderate_member(claire.member, room, hugo_b.member.id,
                                             AuditAction.MEMBER_REMOVE, "exclusion")
    for client in (hugo_a, hugo_b):
        [revoked] = await client.wait("room.revoked")
        assert revoked == {"ev": "room.revoked", "room": room, "reason": "removed"}
        assert room not in client.conn.rooms
    [removed] = await claire.wait("member.removed")
    assert removed["person"]["id"] == hugo_b.member.id
    assert hugo_b.events("member.removed") == []
    # Nothing of the room reaches him any more, on any path.
    await nodes.a.chat.send(claire.member, room, "t", "la suite du cours")
    await claire.wait("chat.message")
    await barrier(nodes, hugo_b, room=room)
    assert hugo_b.events("chat.message") == []
    for call in (
        hugo_b.subscribe(room),
        nodes.b.chat.send(hugo_b.member, room, "t2", "je suis là"),
        nodes.b.chat.history(hugo_b.member, room, before=None, after=None, limit=10),
        nodes.b.moderation.held(hugo_b.member, room),
    ):
        with pytest.raises(PreauError) as refused:
            await call
        assert refused.value.code is ErrorCode.NOT_FOUND
    # Re-admitted: back in, on both nodes (once node A has the notice).
    heard_on_a = Removals(nodes.a)
    await nodes.b.moderation.moderate_member(claire.member, room, hugo_b.member.id,
                                             AuditAction.MEMBER_READMIT, None)
    await heard_on_a.wait(room, hugo_b.member.id, False)
    await hugo_a.subscribe(room)
    await hugo_b.subscribe(room)
    assert (await nodes.b.chat.send(hugo_b.member, room, "t3", "merci")).created


async def test_a_subscribe_racing_a_removal_is_refused(nodes: Nodes) -> None:
    """The subscriber read the store before the removal committed and registers
    after the notice went by: the hub remembers recent removals."""
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    await nodes.b.chat.open_room(hugo.member, room)  # before the removal: allowed
    heard_on_b = Removals(nodes.b)
    await nodes.a.moderation.moderate_member(claire, room, hugo.member.id,
                                             AuditAction.MEMBER_REMOVE, None)
    await heard_on_b.wait(room, hugo.member.id, True)  # the notice went by
    with pytest.raises(PreauError) as refused:
        await nodes.b.hub.subscribe(hugo.conn, room, None, lambda fields: None)
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert room not in nodes.b.hub.feeds  # the feed opened for it is closed again


async def test_a_lost_removal_notice_is_caught_up_at_resync(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    await hugo.subscribe(room)
    real_publish = nodes.a.broker.publish

    async def lossy(channel: str, payload: bytes) -> None:
        if channel != "control.rooms":
            await real_publish(channel, payload)

    monkeypatch.setattr(nodes.a.broker, "publish", lossy)
    await nodes.a.moderation.moderate_member(claire, room, hugo.member.id,
                                             AuditAction.MEMBER_REMOVE, None)
    # Dropped inside publish itself: nothing is in flight to wait for.
    assert room in hugo.conn.rooms  # the notice was lost
    await nodes.b.hub.resync()  # what the broker calls once it is back
    assert room not in hugo.conn.rooms
    await hugo.wait("room.revoked")


async def test_a_deletion_reason_reaches_its_author_and_the_moderators_only(
    nodes: Nodes,
) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    for client in (claire, lea, hugo):
        await client.subscribe(room)
    sent = await nodes.a.chat.send(lea.member, room, "t1", "tais-toi")
    assert sent.message is not None
    # Hugo reported it; deleting it from the room settles his report too.
    report = await nodes.b.moderation.report(hugo.member, room, sent.message.seq, "méchant")
    await nodes.a.moderation.redact(claire.member, room, sent.message.seq, "propos blessant")
    [told] = await lea.wait("chat.redaction_reason")
    assert (told["room"], told["redacts"], told["reason"]) == (
        room, sent.message.seq, "propos blessant")
    await claire.wait("chat.redaction_reason")
    [outcome] = await hugo.wait("report.resolved")
    assert (outcome["report"], outcome["outcome"]) == (report["report"]["id"], "deleted")
    await hugo.wait("chat.redaction")
    await barrier(nodes, hugo, room=room)
    assert hugo.events("chat.redaction_reason") == []
    assert "propos blessant" not in str(hugo.recorder.frames)

    def reasons(entries: list[dict[str, Any]]) -> list[str | None]:
        return [e.get("reason") for e in entries if e["ev"] == "chat.redaction"]

    for who, expected in ((lea, ["propos blessant"]), (claire, ["propos blessant"]),
                          (hugo, [None])):
        for node in (nodes.a, nodes.b):
            history = await node.chat.history(who.member, room, before=None, after=None,
                                              limit=10)
            assert reasons(history) == expected, who.member.display_name
    # Older than the page: the author is still recognised.
    page = await nodes.a.chat.history(lea.member, room, before=None, after=1, limit=10)
    assert reasons(page) == ["propos blessant"]
    assert await nodes.a.moderation.reports(claire.member, claire.member.school_id) == []


async def test_a_deleted_message_disappears_live_and_from_every_replay(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = Client(nodes, nodes.a, "Claire Lefèvre")
    hugo = Client(nodes, nodes.b, "Hugo Bernard")
    lea = nodes.member(nodes.a, "Léa Martin")
    for client in (claire, hugo):
        await client.subscribe(room)
    bad = await nodes.a.chat.send(lea, room, "t1", "insulte")
    await nodes.a.chat.send(lea, room, "t2", "pardon")
    assert bad.message is not None
    event, created = await nodes.a.moderation.redact(claire.member, room, bad.message.seq,
                                                     "insulte")
    assert created
    assert (event.seq, event.redacts) == (3, 1)
    [redaction] = await hugo.wait("chat.redaction")
    assert (redaction["seq"], redaction["redacts"], redaction["by"]["name"]) == (
        3, 1, "Claire Lefèvre")
    assert "reason" not in redaction  # the reason is the author's and the moderators'
    # Deleting again: the same redaction, nothing new on the wire.
    again, created = await nodes.b.moderation.redact(claire.member, room, 1, None)
    assert (created, again.seq) == (False, 3)
    # A replay from the start, on the other node: a tombstone, never the text.
    late = Client(nodes, nodes.b, "Chloé Dubois")
    await late.subscribe(room, since=0)
    frames = await late.wait("chat.redaction")
    replay = [f for f in late.recorder.frames if f.get("ev", "").startswith("chat.")]
    assert [(f["ev"], f["seq"]) for f in replay] == [
        ("chat.message", 1), ("chat.message", 2), ("chat.redaction", 3)]
    assert replay[0] == {"ev": "chat.message", "room": room, "seq": 1, "id": bad.message.id,
                         "sender": {"id": lea.id, "name": "Léa Martin"},
                         "ts": bad.message.created_ms, "redacted": True}
    assert frames[0]["redacts"] == 1
    history = await nodes.b.chat.history(hugo.member, room, before=None, after=None, limit=10)
    assert "insulte" not in str([h for h in history if h["ev"] == "chat.message"])
    assert [h.get("redacted") for h in history] == [True, None, None]
    # Only the audit log has the original, for the school's admins.
    anne = nodes.member(nodes.a, "Anne Roux")
    page = await nodes.a.moderation.audit(anne, anne.school_id,
                                          AuditQuery(action=AuditAction.MESSAGE_DELETE))
    [entry] = page["entries"]
    assert (entry["content"], entry["reason"], entry["message_seq"], entry["target"]["name"],
            entry["actor"]["name"], entry["room"]["name"]) == (
        "insulte", "insulte", 1, "Léa Martin", "Claire Lefèvre", "6eA")
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.audit(claire.member, anne.school_id, AuditQuery())
    assert refused.value.code is ErrorCode.FORBIDDEN
    # Others' messages are not a pupil's to delete.
    hugo_member = nodes.member(nodes.a, "Hugo Bernard")
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.redact(hugo_member, room, 2, None)
    assert refused.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(PreauError) as refused:
        await nodes.a.moderation.redact(claire.member, room, 99, None)
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_modes_apply_on_every_node(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = Client(nodes, nodes.b, "Léa Martin")
    await lea.subscribe(room)
    policy = await nodes.a.moderation.set_policy(
        claire, room, PolicyChange(mode=RoomMode.ANNOUNCEMENT), None)
    [notice] = await lea.wait("room.policy")
    assert notice["policy"] == policy.to_wire()
    assert notice["by"]["name"] == "Claire Lefèvre"
    with pytest.raises(PreauError) as refused:
        await nodes.b.chat.send(lea.member, room, "t", "coucou")
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert (await nodes.b.chat.send(claire, room, "c", "Devoirs pour lundi")).created
    access = await nodes.b.chat.open_room(lea.member, room)
    assert access.to_wire() == {"role": "reader", "policy": policy.to_wire()}
    with pytest.raises(PreauError) as refused:
        await nodes.b.moderation.set_policy(lea.member, room, PolicyChange(
            mode=RoomMode.OPEN), None)
    assert refused.value.code is ErrorCode.FORBIDDEN


async def test_members_list_for_moderators(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.moderation.moderate_member(claire, room, lea.id, AuditAction.MEMBER_MUTE,
                                             None, duration_s=60)
    members = await nodes.b.moderation.members(claire, room)
    names = [m["name"] for m in members]
    assert names[:3] == ["Anne Roux", "Claire Lefèvre", "Julien Garnier"]  # moderators first
    assert len(names) == 3 + 6
    assert "Inès Petit" not in names
    [entry] = [m for m in members if m["id"] == lea.id]
    assert entry["role"] == "member"
    assert entry["muted_until"] > 0
    with pytest.raises(PreauError) as refused:
        await nodes.b.moderation.members(lea, room)
    assert refused.value.code is ErrorCode.FORBIDDEN


async def test_retention_purges_old_records(nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    await nodes.a.moderation.moderate_member(claire, room, lea.id, AuditAction.MEMBER_REMOVE,
                                             None)
    assert await nodes.a.moderation.purge_expired() == 0
    later = nodes.a.clock.now_ms() + 366 * 86_400_000
    monkeypatch.setattr(nodes.a.clock, "now_ms", lambda: later)
    assert await nodes.a.moderation.purge_expired() == 1


class SteppedClock:
    """The nodes' clock, moved by the test: time windows without sleeping."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


async def test_slow_mode_lets_a_pupil_post_again_once_the_window_passed(
    tmp_path: Path,
) -> None:
    clock = SteppedClock(1_773_140_400_000)
    async with two_nodes(tmp_path, clock) as nodes:
        room = await nodes.room(nodes.a, "6eA")
        claire = nodes.member(nodes.a, "Claire Lefèvre")
        chloe = nodes.member(nodes.b, "Chloé Dubois")
        await nodes.a.moderation.set_policy(claire, room, PolicyChange(slow_mode_s=2), None)
        await nodes.b.chat.send(chloe, room, "txn-un", "un")
        clock.advance(1.5)
        with pytest.raises(PreauError) as refused:
            await nodes.b.chat.send(chloe, room, "txn-deux", "deux")
        assert refused.value.code is ErrorCode.RATE_LIMITED
        assert refused.value.to_wire()["retry_after"] == 0.5
        for i in range(3):  # the teacher is not slowed down
            await nodes.a.chat.send(claire, room, f"txn-consigne-{i}", f"consigne {i}")
        clock.advance(0.5)  # the window is over, on either node
        sent = await nodes.a.chat.send(chloe, room, "txn-deux", "deux")
        assert sent.message is not None


async def test_an_author_may_recall_only_within_the_window(tmp_path: Path) -> None:
    clock = SteppedClock(1_773_140_400_000)
    async with two_nodes(tmp_path, clock) as nodes:
        room = await nodes.room(nodes.a, "6eA")
        claire = nodes.member(nodes.a, "Claire Lefèvre")
        lea = nodes.member(nodes.a, "Léa Martin")
        await nodes.a.moderation.set_policy(claire, room, PolicyChange(recall_window_s=1),
                                            None)
        oops = await nodes.a.chat.send(lea, room, "txn-oups", "oups")
        kept = await nodes.a.chat.send(lea, room, "txn-garde", "trop tard pour celui-ci")
        assert oops.message is not None
        assert kept.message is not None
        clock.advance(1.0)  # the window is inclusive
        await nodes.b.moderation.redact(lea, room, oops.message.seq, None)
        clock.advance(0.001)
        with pytest.raises(PreauError) as refused:
            await nodes.b.moderation.redact(lea, room, kept.message.seq, None)
        assert refused.value.code is ErrorCode.FORBIDDEN
        assert "late" in refused.value.message
        # The teacher, at any time.
        redaction, created = await nodes.a.moderation.redact(claire, room, kept.message.seq,
                                                             "doublon")
        assert created
        assert redaction.redacts == kept.message.seq


async def test_a_held_message_of_someone_who_left_the_room_cannot_be_approved(
    nodes: Nodes,
) -> None:
    """Chloé's message waits for a moderator; before it is decided she moves
    to 6eB (a re-import): approving it is refused with a clear error (her
    words are not posted in a class she left), rejecting it works."""
    from preau.server.messages import localise

    room = await nodes.room(nodes.a, "6eA")
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    await nodes.a.moderation.set_policy(claire, room, PolicyChange(
        premoderation=Premoderation.PUPILS), None)
    chloe, hugo = nodes.member(nodes.a, "Chloé Dubois"), nodes.member(nodes.a, "Hugo Bernard")
    gone = await nodes.a.chat.send(chloe, room, "c", "Je pars en 6eB")
    stays = await nodes.a.chat.send(hugo, room, "h", "Je reste")
    assert gone.held is not None
    assert stays.held is not None
    # Chloé (E003) moves to 6eB; node b, where the moderator decides, knows of it.
    await nodes.reimport(demo_with_class_move("E003", "6eA", "6eB"))
    with pytest.raises(PreauError) as refused:
        await nodes.b.moderation.decide(claire, room, gone.held.id, True, None)
    assert refused.value.code is ErrorCode.CONFLICT
    assert localise(ErrorCode.CONFLICT, refused.value.message, "fr") == (
        "son auteur ne fait plus partie de ce salon : refusez-le")
    await nodes.b.moderation.decide(claire, room, gone.held.id, False, None)
    approved = await nodes.b.moderation.decide(claire, room, stays.held.id, True, None)
    assert approved["held"]["status"] == "approved"
    history = await nodes.b.chat.history(claire, room, before=None, after=None, limit=10)
    assert [m["txn"] for m in history] == ["h"]
