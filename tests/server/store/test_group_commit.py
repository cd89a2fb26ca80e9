"""Group commit of plain posts (``GroupCommit``, preau/server/store/posting.py)
on a scripted engine: who goes with whom, in what order, and that a call
stuck on one room does not hold back the others. The same on a real
PostgreSQL: tests/server/store/test_posting_contract.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from preau.server.store.posting import STALL_S, GroupCommit


class ScriptedEngine:
    """Answers each post with a number; a room in ``stuck`` waits for ``release``."""

    dialect = "postgres"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []  # the rooms of each call, in the order sent
        self.stuck: set[str] = set()
        self.release = asyncio.Event()
        self.fail = False
        self.called = asyncio.Event()  # a first call is out

    async def call(self, sql: str, *args: Any) -> Any:
        many = "preau_post_plain_many" in sql
        rooms = list(args[0]) if many else [args[0]]
        txns = list(args[7]) if many else [args[7]]
        self.calls.append(rooms)
        self.called.set()
        if self.stuck & set(rooms):
            await self.release.wait()
        await asyncio.sleep(0.005)  # the round trip
        if self.fail:
            raise ConnectionResetError("gone")
        seqs = [int(t) for t in txns]
        return seqs if many else seqs[0]


def _args(room: str, n: int) -> tuple[Any, ...]:
    return (room, "school", "pupil", "lea", False, None, f"m{n}", str(n), "hi", 0, 0)


async def test_posts_waiting_for_a_call_go_together_in_room_order() -> None:
    engine = ScriptedEngine()
    group = GroupCommit(engine)  # type: ignore[arg-type]
    first = asyncio.ensure_future(group.post(_args("b", 0)))
    await engine.called.wait()  # it goes alone, at once
    rooms = ["a", "c", "a"]
    results = await asyncio.gather(*(group.post(_args(r, n)) for n, r in enumerate(rooms, 1)))
    assert await first == 0
    assert results == [1, 2, 3]  # each its own answer
    # The others, which waited for it, together, rooms sorted (a's in order).
    assert engine.calls == [["b"], ["a", "a", "c"]]
    assert (group.batches, group.posts) == (2, 4)


async def test_a_failed_call_fails_each_of_its_posts() -> None:
    engine = ScriptedEngine()
    engine.fail = True
    group = GroupCommit(engine)  # type: ignore[arg-type]
    results = await asyncio.gather(*(group.post(_args("a", n)) for n in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, ConnectionResetError) for r in results)
    engine.fail = False
    assert await group.post(_args("a", 9)) == 9  # and the next goes


async def test_a_room_stuck_on_its_lock_does_not_hold_back_the_others() -> None:
    engine = ScriptedEngine()
    engine.stuck = {"busy"}
    group = GroupCommit(engine)  # type: ignore[arg-type]
    stuck = asyncio.ensure_future(group.post(_args("busy", 1)))
    await engine.called.wait()  # its call is out, waiting for the room's lock
    async with asyncio.timeout(STALL_S * 20):
        assert await group.post(_args("free", 2)) == 2
    assert not stuck.done()
    engine.release.set()
    assert await stuck == 1


async def test_a_cancelled_caller_leaves_the_others_answered() -> None:
    engine = ScriptedEngine()
    group = GroupCommit(engine)  # type: ignore[arg-type]
    first = asyncio.ensure_future(group.post(_args("a", 1)))
    second = asyncio.ensure_future(group.post(_args("a", 2)))
    third = asyncio.ensure_future(group.post(_args("b", 3)))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 1
    assert await third == 3
    with pytest.raises(asyncio.CancelledError):
        await second
