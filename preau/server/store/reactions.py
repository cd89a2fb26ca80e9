"""Reactions on messages in SQL (``reactions``: one row per person, message
and emoji; ``messages.reactions_rev`` and ``reactions_head``).

Which emoji exist, who may react and who sees who reacted is decided by the
service (``preau/server/chat/reactions.py``) and the rules
(``preau/server/moderation/rules.py``: ``decide_reaction``). A redaction deletes the
message's reactions (``preau/server/store/moderation.py``); export, erasure and the
deletion of messages are in ``preau/server/store/privacy.py``.

Counts are exact on every node: a change raises the message's revision in the
transaction that makes it, the row lock on the message serialising concurrent
changes (PostgreSQL), and the counts returned are read after that lock, so a
higher revision always carries the later counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from preau.server.store.engine import SqlBase, Transaction


@dataclass(frozen=True, slots=True)
class Reactions:
    """A message's reactions as one person sees them: ``counts`` per emoji
    name, the person's own (``mine``) and the revision (0: never reacted to)."""

    seq: int
    rev: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    mine: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, object]:
        return {"rev": self.rev, "counts": self.counts, "mine": list(self.mine)}


@dataclass(frozen=True, slots=True)
class ReactionChange:
    """The result of adding or removing one reaction: ``changed`` False when
    it was already so (nothing written, the revision unchanged)."""

    sender_id: str  # the message's author (who may see who reacted)
    changed: bool
    reactions: Reactions


class ReactionStore(Protocol):
    """Reactions on messages."""

    async def set_reaction(
        self, room_id: str, seq: int, person_id: str, reaction: str, on: bool, now_ms: int
    ) -> ReactionChange | None:
        """Add (``on``) or remove ``person_id``'s ``reaction`` to message ``seq``;
        idempotent. ``None``: no such message (or not a message, or redacted)."""

    async def reactions_of(
        self, room_id: str, seqs: Sequence[int], person_id: str
    ) -> dict[int, Reactions]:
        """The reactions of these messages that have any (by seq), as
        ``person_id`` sees them."""

    async def reactions_changed(
        self, room_id: str, since_head: int, after_seq: int, person_id: str, limit: int
    ) -> list[Reactions]:
        """Messages above ``after_seq`` whose reactions changed while the room's
        head was at or above ``since_head``, as ``person_id`` sees them (the
        newest ``limit``, oldest first): what a resume must repaint."""

    async def reactors(self, room_id: str, seq: int) -> tuple[str, dict[str, list[str]]] | None:
        """The author of message ``seq`` and who reacted with what (person ids,
        in the order they reacted). ``None``: no such message."""


async def _summaries(
    tx: Transaction, room_id: str, revs: dict[int, int], person_id: str
) -> dict[int, Reactions]:
    if not revs:
        return {}
    seqs = sorted(revs)
    marks = ", ".join(f"${i + 3}" for i in range(len(seqs)))
    rows = await tx.fetch(
        "SELECT seq, reaction, COUNT(*) AS n, SUM(CASE WHEN person_id = $2 THEN 1 ELSE 0 END)"
        f" AS mine FROM reactions WHERE room_id = $1 AND seq IN ({marks})"
        " GROUP BY seq, reaction",
        room_id, person_id, *seqs,
    )
    counts: dict[int, Counter[str]] = {s: Counter() for s in seqs}
    mine: dict[int, list[str]] = {s: [] for s in seqs}
    for r in rows:
        counts[int(r["seq"])][r["reaction"]] = int(r["n"])
        if int(r["mine"]):
            mine[int(r["seq"])].append(r["reaction"])
    return {
        s: Reactions(s, revs[s], dict(sorted(counts[s].items())), tuple(sorted(mine[s])))
        for s in seqs
    }


class ReactionsSql(SqlBase, ReactionStore):
    """Reactions' SQL (one transaction per method)."""

    async def set_reaction(
        self, room_id: str, seq: int, person_id: str, reaction: str, on: bool, now_ms: int
    ) -> ReactionChange | None:
        async with self._engine.transaction() as tx:
            # Lock the message first: concurrent changes of one message's
            # reactions run one after the other, each seeing the last's rows.
            message = await tx.fetchrow(
                "UPDATE messages SET reactions_rev = reactions_rev + 1,"
                " reactions_head = (SELECT last_seq FROM rooms WHERE id = $1)"
                " WHERE room_id = $1 AND seq = $2 AND kind = 'message'"
                " AND redacted_seq IS NULL RETURNING sender_id, reactions_rev",
                room_id, seq,
            )
            if message is None:
                await tx.rollback()
                return None
            if on:
                changed = await tx.execute(
                    "INSERT INTO reactions (room_id, seq, person_id, reaction, created_ms)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    room_id, seq, person_id, reaction, now_ms,
                )
            else:
                changed = await tx.execute(
                    "DELETE FROM reactions WHERE room_id = $1 AND seq = $2 AND person_id = $3"
                    " AND reaction = $4",
                    room_id, seq, person_id, reaction,
                )
            rev = int(message["reactions_rev"])
            if not changed:
                rev -= 1  # as it was: the update is undone with the transaction
            summary = (await _summaries(tx, room_id, {seq: rev}, person_id))[seq]
            if not changed:
                await tx.rollback()
        return ReactionChange(message["sender_id"], bool(changed), summary)

    async def reactions_of(
        self, room_id: str, seqs: Sequence[int], person_id: str
    ) -> dict[int, Reactions]:
        wanted = sorted(set(seqs))
        found: dict[int, Reactions] = {}
        async with self._engine.transaction(readonly=True) as tx:
            for start in range(0, len(wanted), 200):
                chunk = wanted[start:start + 200]
                marks = ", ".join(f"${i + 2}" for i in range(len(chunk)))
                rows = await tx.fetch(
                    "SELECT seq, reactions_rev FROM messages WHERE room_id = $1"
                    " AND reactions_rev > 0 AND redacted_seq IS NULL"
                    f" AND seq IN ({marks})",
                    room_id, *chunk,
                )
                found.update(await _summaries(
                    tx, room_id, {int(r["seq"]): int(r["reactions_rev"]) for r in rows},
                    person_id))
        return found

    async def reactions_changed(
        self, room_id: str, since_head: int, after_seq: int, person_id: str, limit: int
    ) -> list[Reactions]:
        async with self._engine.transaction(readonly=True) as tx:
            return await reactions_changed_in(tx, room_id, since_head, after_seq, person_id,
                                              limit)

    async def reactors(self, room_id: str, seq: int) -> tuple[str, dict[str, list[str]]] | None:
        async with self._engine.transaction(readonly=True) as tx:
            sender = await tx.fetchval(
                "SELECT sender_id FROM messages WHERE room_id = $1 AND seq = $2"
                " AND kind = 'message' AND redacted_seq IS NULL",
                room_id, seq,
            )
            if sender is None:
                return None
            rows = await tx.fetch(
                "SELECT person_id, reaction FROM reactions WHERE room_id = $1 AND seq = $2"
                " ORDER BY created_ms, person_id",
                room_id, seq,
            )
        who: dict[str, list[str]] = {}
        for r in rows:
            who.setdefault(r["reaction"], []).append(r["person_id"])
        return str(sender), dict(sorted(who.items()))


async def reactions_changed_in(
    tx: Transaction, room_id: str, since_head: int, after_seq: int, person_id: str, limit: int
) -> list[Reactions]:
    """``reactions_changed`` on an open transaction (a resume reads it with the
    messages: preau/server/store/resume.py)."""
    rows = await tx.fetch(
        "SELECT seq, reactions_rev FROM messages WHERE room_id = $1"
        " AND reactions_rev > 0 AND redacted_seq IS NULL AND reactions_head >= $2"
        " AND seq > $3"
        " ORDER BY seq DESC LIMIT $4",
        room_id, since_head, after_seq, limit,
    )
    summaries = await _summaries(
        tx, room_id, {int(r["seq"]): int(r["reactions_rev"]) for r in rows}, person_id)
    return [summaries[s] for s in sorted(summaries)]
