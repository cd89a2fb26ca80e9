"""Presence changes coalesced per room (preau/server/live/presence_batch.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from preau.server.live.presence_batch import PresenceBatcher


def person(i: int) -> dict[str, str]:
    return {"id": f"p{i}", "name": f"Élève {i}"}


async def test_a_steady_stream_gets_fewer_longer_windows_and_nobody_lost() -> None:
    sent: list[tuple[dict[str, Any], bool]] = []

    async def publish(room: str, frame: bytes, hidden: bool) -> None:
        sent.append((orjson.loads(frame), hidden))

    batch = PresenceBatcher(publish, window_s=0.05, max_window_s=0.2)
    await batch.announce("presence.join", "r", person(0), False)
    assert sent == [({"ev": "presence.join", "room": "r", "person": person(0)}, False)]
    for i in range(1, 40):  # ~0.4 s of arrivals, one every 10 ms
        await batch.announce("presence.join", "r", person(i), i % 2 == 0)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    announced = [p for frame, _ in sent for p in frame.get("people", [frame.get("person")])]
    assert sorted(announced, key=lambda p: int(p["id"][1:])) == [person(i) for i in range(40)]
    assert len(sent) < 16  # windows of 50, 100, 200, 200… ms, two audiences each
    for frame, hidden in sent[1:]:
        assert all(int(p["id"][1:]) % 2 == (0 if hidden else 1)
                   for p in frame.get("people", [frame.get("person")]))
    # Quiet for a window: the next change goes out at once again.
    await batch.announce("presence.leave", "r", person(3), False)
    assert sent[-1] == ({"ev": "presence.leave", "room": "r", "person": person(3)}, False)
    await batch.stop()


async def test_a_persons_last_change_in_a_window_counts() -> None:
    sent: list[dict[str, Any]] = []

    async def publish(room: str, frame: bytes, hidden: bool) -> None:
        sent.append(orjson.loads(frame))

    batch = PresenceBatcher(publish, window_s=0.05)
    await batch.announce("presence.join", "r", person(1), False)  # at once
    await batch.announce("presence.leave", "r", person(2), False)
    await batch.announce("presence.join", "r", person(2), False)  # back within the window
    await batch.announce("presence.join", "r", person(3), False)
    await asyncio.sleep(0.2)
    assert sent == [
        {"ev": "presence.join", "room": "r", "person": person(1)},
        {"ev": "presence.join", "room": "r", "people": [person(2), person(3)]},
    ]
    await batch.stop()
