"""Hostile frames on /collab (issue 21): an oversize awareness flood does not
stall the node for others, text frames are charged like any frame, and both
floods end with 1008."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
import websockets
from pycrdt import Doc, Text

from preau.collab import codec
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


EDITS = ["é😀x", "👩‍👩‍👧 famille", "abc", "🙂🙂", "mot "]


async def test_damaged_real_updates_never_leave_stock_clients_apart(session: Session) -> None:
    """Issue 21, end to end: a pupil sends real updates with bytes flipped,
    changed, dropped or added, on a real /collab socket; a stock Yjs client
    (y-websocket in Node) that was there all along, a stock client that joins
    afterwards, and the server's export all end with the same text."""
    document = await session.document("Poison")
    lea = await session.node("Léa Martin", document)
    await lea.command("insert", index=0, text="Bonjour 😀 la classe")
    rng = random.Random(21)
    attacker = await session.synced("Hugo Bernard", document)
    taken = refused = 0
    for _ in range(40):
        # A real update: an edit of a copy of the attacker's replica.
        copy: Doc[Any] = Doc()
        copy.apply_update(attacker.doc.get_update())
        made: list[bytes] = []
        copy.observe(lambda event, made=made: made.append(event.update))
        text = copy.get("content", type=Text)
        # pycrdt indexes text by UTF-8 bytes: edits go between characters.
        chars = str(text)
        size = len(chars)

        def at(index: int, chars: str = chars) -> int:
            return len(chars[:index].encode())
        if size and rng.random() < 0.3:
            start = rng.randrange(size)
            del text[at(start):at(min(size, start + 2))]
        else:
            text.insert(at(rng.randint(0, size)), rng.choice(EDITS))
        if not made:
            continue
        damaged = bytearray(made[-1])
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(damaged))
            how = rng.random()
            if how < 0.5:
                damaged[i] ^= 1 << rng.randrange(3)
            elif how < 0.7:
                damaged[i] ^= 1 << rng.randrange(8)
            elif how < 0.85:
                damaged[i] = rng.randrange(256)
            else:
                damaged.insert(i, rng.randrange(256))
        before = len(attacker.denied)
        attacker.send(codec.update(bytes(damaged)))
        await attacker.round_trip()
        marker = f"·{taken + refused}"  # the server has handled the frame before this edit
        await lea.command("insert", index=0, text=marker)
        try:
            await attacker.wait(lambda a=attacker, m=marker: m in str(a.text), timeout=10)
        except TimeoutError:
            # The attacker's own copy never had what it sent (the edit was
            # made on a copy, then damaged): when the server took it, Léa's
            # marker may sit next to it and wait here for a base this copy
            # lacks. A fresh copy from the server has both.
            attacker = await session.synced("Hugo Bernard", document)
            await attacker.wait(lambda a=attacker, m=marker: m in str(a.text), timeout=10)
        if len(attacker.denied) > before:
            refused += 1
            if attacker.denied[-1].endswith("[refused-edit]"):
                attacker = await session.synced("Hugo Bernard", document)  # a new copy
        else:
            taken += 1
    assert refused > 0
    # What the server saved is what every stock client shows: Léa, there all
    # along, and Julien, who joins now.
    exported = await (await session.person("Claire Lefèvre")).get(
        f"/api/documents/{document}/export", format="json")
    late = await session.node("Julien Garnier", document)
    await late.wait_text(exported["content"])
    await lea.wait_text(exported["content"])
