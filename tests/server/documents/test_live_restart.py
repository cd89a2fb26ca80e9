"""Kill the server mid-edit (SIGKILL, no shutdown): after a restart no acknowledged
update is missing. An update is acknowledged once another client received it,
since the server appends to the store before it relays."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.collab.node_client import NodeYClient
from tests.collab.yclient import YClient
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow


async def test_no_relayed_update_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "node").start()
    clients: list[YClient] = []
    try:
        teacher = await live.client("Claire Lefèvre")
        lea = await live.client("Léa Martin")
        rooms = (await teacher.me())["rooms"]
        klass = next(r["class_id"] for r in rooms if r["name"] == "6eA")
        document = (await teacher.post("/api/documents", {"class": klass, "title": "Crash"}))["id"]
        ws = f"ws://127.0.0.1:{live.port}"
        writer = await YClient.connect(ws, document, lea.token)
        observer = await YClient.connect(ws, document, teacher.token)
        clients += [writer, observer]
        for client in (writer, observer):
            async with asyncio.timeout(5):
                await client.synced.wait()

        # Type steadily; kill the process while keystrokes are in flight.
        async def type_forever() -> None:
            i = 0
            while True:
                writer.text.insert(len(writer.text), f"{i % 10}")
                i += 1
                await asyncio.sleep(0.002)

        typing = asyncio.get_running_loop().create_task(type_forever())
        await observer.wait(lambda: len(observer.text) >= 200, timeout=10)
        assert live.process is not None
        live.process.send_signal(signal.SIGKILL)
        live.process.wait(10)
        live.process = None
        typing.cancel()
        await asyncio.gather(typing, return_exceptions=True)
        acknowledged = str(observer.text)
        typed = str(writer.text)
        assert len(acknowledged) >= 200
        assert typed.startswith(acknowledged)

        await asyncio.to_thread(live.start)
        teacher2 = await live.client("Claire Lefèvre")
        try:
            recovered = await YClient.connect(ws, document, teacher2.token)
            clients.append(recovered)
            async with asyncio.timeout(5):
                await recovered.synced.wait()
            # Everything relayed before the crash was stored; maybe a little more
            # (stored, not yet relayed), never less, and nothing out of order.
            assert str(recovered.text).startswith(acknowledged)
            assert typed.startswith(str(recovered.text))
        finally:
            await teacher2.close()
        await teacher.close()
        await lea.close()
    finally:
        for client in clients:
            await client.close()
        live.stop()


async def test_a_yjs_client_keeps_editing_through_a_restart_and_merges(tmp_path: Path) -> None:
    """A stock WebsocketProvider edits while the server is down, reconnects by
    itself once it is back, and its offline edits merge with the others'."""
    live = LiveServer(tmp_path / "node").start()
    node: NodeYClient | None = None
    try:
        teacher = await live.client("Claire Lefèvre")
        lea = await live.client("Léa Martin")
        rooms = (await teacher.me())["rooms"]
        klass = next(r["class_id"] for r in rooms if r["name"] == "6eA")
        document = (await teacher.post("/api/documents", {"class": klass, "title": "Panne"}))["id"]
        node = await NodeYClient.start(f"ws://127.0.0.1:{live.port}/collab", document, lea.token)
        await node.wait_event("synced")
        await node.command("insert", index=0, text="avant la panne. ")
        await asyncio.sleep(0.3)

        assert live.process is not None
        live.process.send_signal(signal.SIGKILL)
        live.process.wait(10)
        live.process = None
        await node.wait_event("closed")
        await node.command("insert", index=16, text="pendant la panne. ")

        await asyncio.to_thread(live.start)
        await node.wait_event("synced", count=2, timeout=20)  # reconnected by itself
        teacher2 = await live.client("Claire Lefèvre")
        fresh = await YClient.connect(f"ws://127.0.0.1:{live.port}", document, teacher2.token)
        try:
            await fresh.wait_text("avant la panne. pendant la panne. ")
            fresh.text.insert(len(fresh.text), "après.")
            await node.wait_text("avant la panne. pendant la panne. après.")
        finally:
            await fresh.close()
            await teacher2.close()
        await teacher.close()
        await lea.close()
    finally:
        if node is not None:
            await node.close()
        live.stop()
