"""Store contract for editing one's own message (SQLite and PostgreSQL), through
the decision function the service calls (``edit_message``): the latest text
and a revision per edit, exact under concurrent edits from two nodes; the
replaced texts kept for the audit log only, purged with it; what a resume
repaints; gone with the message (redaction, retention) and pseudonymised or
deleted with the person (erasure)."""

from __future__ import annotations

import asyncio

from preau.server.chat.editing import edit_message
from preau.server.directory.model import Profile
from preau.server.store import AuditAction, AuditQuery, Store
from preau.server.store.edits import Edit
from preau.server.store.privacy import PrivacyStore
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


async def edit(store: Store, room: Room, seq: int, body: str, at: int, who: str = "") -> Edit:
    result = await edit_message(store, room.id, seq, who or room.lea.id, Profile.PUPIL,
                                False, body, at)
    assert result.refusal is None, result.refusal
    assert result.edit is not None
    return result.edit


async def test_latest_text_revisions_and_audit(room: Room) -> None:
    store = room.store
    await room.post(room.lea, "t1", body="première version")
    first = await edit(store, room, 1, "deuxième version", NOW + 1)
    assert first == Edit(room.id, 1, "deuxième version", NOW + 1, 1)
    # Same millisecond again: its time moves past the last edit's (unique per message).
    second = await edit(store, room, 1, "troisième version", NOW + 1)
    assert (second.rev, second.edited_ms) == (2, NOW + 2)
    [message] = await store.messages_after(room.id, 0, 10)
    assert (message.body, message.edited_ms, message.edit_rev) == (
        "troisième version", NOW + 2, 2)
    entries = await store.audit_entries(room.school, AuditQuery(action=AuditAction.MESSAGE_EDIT))
    assert [(e.content, e.details) for e in entries] == [
        ("deuxième version", {"rev": 2}), ("première version", {"rev": 1})]
    # Purged with the audit log.
    assert await store.purge_moderation_records(NOW + 10) >= 4
    entries = await store.audit_entries(room.school, AuditQuery())
    assert entries == []


async def test_concurrent_edits_from_two_nodes_get_distinct_revisions(
    room: Room, other_node: Store
) -> None:
    await room.post(room.lea, "t1")
    nodes = [room.store, other_node]
    done = await asyncio.gather(*(
        edit(nodes[i % 2], room, 1, f"version {i}", NOW + 1) for i in range(12)))
    assert sorted(e.rev for e in done) == list(range(1, 13))
    assert len({e.edited_ms for e in done}) == 12
    last = max(done, key=lambda e: e.rev)
    [message] = await room.store.messages_after(room.id, 0, 10)
    assert (message.body, message.edit_rev) == (last.body, 12)


async def test_what_a_resume_repaints(room: Room) -> None:
    store = room.store
    for txn in ("t1", "t2", "t3"):
        await room.post(room.lea, txn)
    await edit(store, room, 1, "un", NOW + 1)  # head 3
    await room.post(room.lea, "t4")
    await edit(store, room, 2, "deux", NOW + 2)  # head 4
    assert await store.edits_changed(room.id, 4, 100) == [Edit(room.id, 2, "deux", NOW + 2, 1)]
    assert [e.seq for e in await store.edits_changed(room.id, 3, 100)] == [1, 2]
    assert [e.seq for e in await store.edits_changed(room.id, 0, 1)] == [2]  # the newest
    # A redacted message is never repainted, and its texts leave the timeline.
    await store.redact_message(room.id, 1, room.lea.id, False, None, "r-1", NOW + 3)
    assert [e.seq for e in await store.edits_changed(room.id, 0, 100)] == [2]


async def test_gone_with_the_message_and_with_the_person(room: Room) -> None:
    store = room.store
    await room.post(room.lea, "t1", body="texte de Léa")
    await room.post(room.hugo, "t2", body="texte de Hugo")
    await edit(store, room, 1, "texte de Léa, corrigé", NOW + 1)
    await edit(store, room, 2, "texte de Hugo, corrigé", NOW + 1, who=room.hugo.id)
    privacy = PrivacyStore(store.engine)
    # Erasure with contributions deleted: her messages go with their edits.
    person = await privacy.person(room.lea.id)
    assert person is not None
    job = await privacy.request_erasure(person, "request", True, NOW + 2, "contributions")
    assert (await privacy.erasure_step(job, "contributions", "identity", NOW + 3))[0]
    assert [m.seq for m in await store.messages_after(room.id, 0, 10)
            if m.sender_id == room.lea.id] == []
    # Retention: old messages go with the texts their edits replaced.
    assert await privacy.purge_messages(NOW + 10) >= 1
    assert await store.messages_after(room.id, 0, 10) == []
    assert await store.edits_changed(room.id, 0, 10) == []
