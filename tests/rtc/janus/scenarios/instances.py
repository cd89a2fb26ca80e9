"""Run inside the namespace: two Janus instances, calls spread by rendezvous
hashing, and a room found where it already lives when the list changes."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from preau.rtc.janus.assign import assign
from preau.rtc.janus.backend import JanusSfu


async def exists(url: str, secret: str, room: str) -> bool:
    """Ask one instance directly (its own session): does it hold ``room``?"""
    from preau.rtc.janus.session import JanusSession

    async with httpx.AsyncClient() as http:
        session = JanusSession(http, url, secret)
        await session.start()
        try:
            handle = await session.attach("janus.plugin.videoroom")
            reply = await session.message(handle, {"request": "exists", "room": room})
            return bool(reply.data.get("exists"))
        finally:
            await session.close()


async def main(args: dict[str, Any]) -> dict[str, Any]:
    a, b, secret = args["a"], args["b"], args["secret"]
    both = [a, b]
    report: dict[str, Any] = {}
    calls = [f"call-{i}" for i in range(12)]
    sfu = JanusSfu(both, secret)
    try:
        for call in calls:
            await sfu.open_room(call, max_publishers=4)
        report["placed_as_hashed"] = all(
            [await exists(assign(c, both), secret, c) for c in calls])
        report["placed_once"] = all(
            [(await exists(a, secret, c)) != (await exists(b, secret, c)) for c in calls])
        report["spread"] = sorted({assign(c, both) for c in calls}) == sorted(both)
    finally:
        await sfu.close()
    # A running call whose instance is not the hashed one (the list changed
    # since it started): every node finds it where it lives.
    moved = next(c for c in (f"moved-{i}" for i in range(100)) if assign(c, both) == a)
    only_b = JanusSfu([b], secret)
    await only_b.open_room(moved, max_publishers=4)
    await only_b.close()
    sfu = JanusSfu(both, secret)
    try:
        await sfu.open_room(moved, max_publishers=4)  # must not create a twin on a
        report["moved_found_on_b"] = await exists(b, secret, moved)
        report["no_twin_on_a"] = not await exists(a, secret, moved)
        for call in [*calls, moved]:
            await sfu.close_room(call)
        report["all_closed"] = not any(
            [await exists(u, secret, c) for c in [*calls, moved] for u in both])
    finally:
        await sfu.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
