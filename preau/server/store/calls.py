"""Call state rows (migration 0008): one JSON state per call, changed in short transactions.

Each change is one transaction: take the school's lock, read the call's row,
run a pure transition (preau/rtc/room.py) on it, write it back. The lock is per
school, not per call, because a join must also count the school's seats in
every other open call (the school's capacity) without racing another join.
Transactions are a few indexed statements, so the lock is held for well under
a millisecond on SQLite and a round trip or three on PostgreSQL.

A person removed from the call's class room by a moderator (``room_members.
removed``, preau/server/moderation/) has no right to its calls: the reads below that
serve a right check return the removal with the state, and ``update`` can
refuse, inside the locked transaction, a transition for someone removed (a
join or an admission racing a removal cannot seat them: the removal's cut,
which takes the same lock, runs after and finds the seat, or the check sees
the removal).

Same SQL on SQLite and PostgreSQL (the portability rules of
``migrations/0001_initial.sql``); the contract suite runs both
(tests/server/store/test_calls_contract.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

from preau.rtc.room import CallState, Outcome, Status
from preau.server.store.engine import Engine

# Transition: (state, seated peers in the school's *other* open calls) -> outcome.
Transition = Callable[[CallState, int], Outcome]

_REMOVED = ("COALESCE((SELECT m.removed FROM room_members m"
            " WHERE m.room_id = calls.room_id AND m.person_id = $2), 0)")


class RemovedFromRoom(Exception):
    """The person a transition was guarded for is removed from the call's room."""


def _school_lock(school_id: str) -> int:
    digest = hashlib.blake2b(b"preau-calls:" + school_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _dump(state: CallState) -> str:
    return orjson.dumps(state.to_store()).decode()


class CallStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def create(self, state: CallState, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO calls (id, school_id, room_id, status, seats, version, state,"
                " created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                state.id, state.school_id, state.room_id, state.status.value,
                len(state.seated()), state.version, _dump(state), now_ms,
            )

    async def get(self, call_id: str) -> CallState | None:
        async with self._engine.transaction(readonly=True) as tx:
            raw = await tx.fetchval("SELECT state FROM calls WHERE id = $1", call_id)
        return None if raw is None else CallState.from_store(orjson.loads(raw))

    async def get_for(self, call_id: str, person_id: str) -> tuple[CallState | None, bool]:
        """The call's state, and whether ``person_id`` is removed from its room
        (one statement: a right check reads both at the same instant)."""
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT state, {_REMOVED} AS removed FROM calls WHERE id = $1",
                call_id, person_id)
        if row is None:
            return None, False
        return CallState.from_store(orjson.loads(row["state"])), bool(row["removed"])

    async def removed_from(self, room_id: str, person_id: str) -> bool:
        """Is ``person_id`` removed from room ``room_id`` by a moderator?"""
        async with self._engine.transaction(readonly=True) as tx:
            removed = await tx.fetchval(
                "SELECT removed FROM room_members WHERE room_id = $1 AND person_id = $2",
                room_id, person_id)
        return bool(removed)

    async def school_of(self, call_id: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            school: str | None = await tx.fetchval(
                "SELECT school_id FROM calls WHERE id = $1", call_id)
        return school

    async def open_in_room(self, room_id: str) -> list[CallState]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT state FROM calls WHERE room_id = $1 AND status = 'open'"
                " ORDER BY created_ms", room_id)
        return [CallState.from_store(orjson.loads(r["state"])) for r in rows]

    async def open_with_node(self, node_id: str) -> list[CallState]:
        """Open calls with a seat on ``node_id`` (JSON searched as text: a
        maintenance path, run at start-up and on expiry, never per message)."""
        needle = f'"node":{orjson.dumps(node_id).decode()}'
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch("SELECT state FROM calls WHERE status = 'open'")
        return [CallState.from_store(orjson.loads(r["state"])) for r in rows
                if needle in r["state"]]

    async def update(
        self, call_id: str, transition: Transition, now_ms: int, *,
        unless_removed: str | None = None,
    ) -> tuple[CallState, Outcome] | None:
        """Apply ``transition`` to the call under its school's lock.

        Returns ``(state before, outcome)``, or None for an unknown call. The
        row is written only when the outcome changed the state (its version
        moved). An exception from ``transition`` rolls back and propagates.
        ``unless_removed``: a person id; if they are removed from the call's
        room, raise :class:`RemovedFromRoom` instead (read under the lock).
        """
        school_id = await self.school_of(call_id)
        if school_id is None:
            return None
        async with self._engine.transaction() as tx:
            await tx.lock(_school_lock(school_id))
            raw = await tx.fetchval("SELECT state FROM calls WHERE id = $1", call_id)
            if raw is None:
                return None
            before = CallState.from_store(orjson.loads(raw))
            if unless_removed is not None and await tx.fetchval(
                    "SELECT removed FROM room_members WHERE room_id = $1 AND person_id = $2",
                    before.room_id, unless_removed):
                raise RemovedFromRoom(unless_removed)
            others = int(await tx.fetchval(
                "SELECT COALESCE(SUM(seats), 0) FROM calls"
                " WHERE school_id = $1 AND status = 'open' AND id <> $2",
                school_id, call_id) or 0)
            outcome = transition(before, others)
            after = outcome.state
            if after.version != before.version:
                await tx.execute(
                    "UPDATE calls SET status = $2, seats = $3, version = $4, state = $5,"
                    " updated_ms = $6 WHERE id = $1",
                    call_id, after.status.value,
                    len(after.seated()) if after.status is Status.OPEN else 0,
                    after.version, _dump(after), now_ms,
                )
        return before, outcome

    async def idle_open(self, before_ms: int) -> list[str]:
        """Open calls with no admitted seat, unchanged since ``before_ms``."""
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT id FROM calls WHERE status = 'open' AND seats = 0 AND updated_ms < $1"
                " ORDER BY id", before_ms)
        return [str(r["id"]) for r in rows]

    async def school_seats(self, school_id: str) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            return int(await tx.fetchval(
                "SELECT COALESCE(SUM(seats), 0) FROM calls"
                " WHERE school_id = $1 AND status = 'open'", school_id) or 0)

    async def heartbeat(self, node_id: str, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE call_nodes SET seen_ms = $2 WHERE node_id = $1", node_id, now_ms)
            if not changed:
                await tx.execute(
                    "INSERT INTO call_nodes (node_id, seen_ms) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING", node_id, now_ms)

    async def silent_nodes(self, before_ms: int) -> frozenset[str]:
        """Nodes whose last heartbeat is older than ``before_ms``."""
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch("SELECT node_id FROM call_nodes WHERE seen_ms < $1",
                                  before_ms)
        return frozenset(str(r["node_id"]) for r in rows)

    async def forget_node(self, node_id: str) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("DELETE FROM call_nodes WHERE node_id = $1", node_id)
