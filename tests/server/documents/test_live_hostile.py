"""Hostile frames on /collab (issue 21): an oversize awareness flood does not
stall the node for others, text frames are charged like any frame, and both
floods end with 1008."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from collab import codec
from tests.server.documents.conftest import Session

pytestmark = pytest.mark.slow


async def drain(ws: websockets.ClientConnection) -> None:
    """Read what the server answers (its refusals), as a client does; a
    client that stops reading would be cut as a slow consumer instead."""
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


def oversize_awareness() -> bytes:
    """About 60 KiB of awareness entries: under the hard frame limit of the
    test server (64 KiB), far over the awareness limit (16 KiB)."""
    entries = [codec.AwarenessEntry(5000 + i, 1, '{"user":{"name":"' + "x" * 40 + '"}}')
               for i in range(1000)]
    frame = codec.awareness(entries)
    assert 16 * 1024 < len(frame) < 64 * 1024
    return frame


async def test_an_awareness_flood_leaves_other_users_unaffected(session: Session) -> None:
    document = await session.document()
    token = (await session.person("Léa Martin")).token
    flood_frame = oversize_awareness()
    claire = await session.person("Claire Lefèvre")
    rtts: list[float] = []

    async def flood() -> int | None:
        url = f"{session.ws}/collab/{document}?token={token}"
        async with websockets.connect(url, compression=None, max_size=2**24) as ws:
            reader = asyncio.create_task(drain(ws))
            try:
                for _ in range(2000):
                    await ws.send(flood_frame)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(reader, 10)
            return ws.close_code

    async def ping() -> None:
        async with await claire.connect() as conn:
            for _ in range(40):
                start = time.perf_counter()
                await conn.request("ping")
                rtts.append(time.perf_counter() - start)
                await asyncio.sleep(0.01)

    code, _ = await asyncio.gather(flood(), ping())
    assert code == 1008  # refused frames count: the flood is cut
    rtts.sort()
    # Loose on purpose (a loaded CI machine): before the fix, each such frame
    # held the event loop for ~0.6 s. The measured figures are in
    # docs/benchmarks.md, not here.
    assert rtts[int(len(rtts) * 0.99) - 1] < 0.25, rtts[-5:]


async def test_text_frames_on_collab_are_charged_and_a_flood_is_cut(session: Session) -> None:
    document = await session.document()
    token = (await session.person("Hugo Bernard")).token
    url = f"{session.ws}/collab/{document}?token={token}"
    async with websockets.connect(url, compression=None) as ws:
        reader = asyncio.create_task(drain(ws))
        try:
            for _ in range(20_000):
                await ws.send("pas du binaire")
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(reader, 10)
        assert ws.close_code == 1008
