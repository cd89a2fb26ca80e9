"""A y-websocket client on pycrdt, for tests: a real socket, a real Yjs replica.

It behaves like y-websocket's ``WebsocketProvider``: on open it sends its
state vector (SyncStep1) and answers the server's SyncStep1 with what the
server lacks; every local change is sent as an Update; remote updates are
applied. It also records what the server refused (permission-denied reasons)
and the awareness states it was shown.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import websockets
from pycrdt import Doc, Subscription, Text, TransactionEvent

from preau.collab import codec


class YClient:
    def __init__(self, ws: Any, doc: Doc[Any]) -> None:
        self.ws = ws
        self.doc = doc
        self.text = doc.get("content", type=Text)
        self.denied: list[str] = []
        self.awareness: dict[int, str] = {}
        self.synced = asyncio.Event()
        self.step2s = 0  # SyncStep2 messages received
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._remote = False
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._subscription: Subscription | None = doc.observe(self._on_change)
        self._tasks = [asyncio.get_running_loop().create_task(self._read()),
                       asyncio.get_running_loop().create_task(self._write())]

    @classmethod
    async def connect(
        cls, ws_base: str, document: str, token: str | None, doc: Doc[Any] | None = None,
        origin: str | None = None,
    ) -> YClient:
        url = f"{ws_base}/collab/{document}" + (f"?token={token}" if token else "")
        ws = await websockets.connect(url, origin=origin, compression=None,  # type: ignore[arg-type]
                                      max_size=2**24)
        client = cls(ws, doc if doc is not None else Doc())
        client.send(codec.sync_step1(client.doc.get_state()))
        return client

    def _on_change(self, event: TransactionEvent) -> None:
        if not self._remote:
            self.send(codec.update(event.update))

    def send(self, frame: bytes) -> None:
        self._outbox.put_nowait(frame)

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send(frame)
            except websockets.ConnectionClosed:
                return

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = codec.decode(frame)
                if isinstance(message, codec.SyncStep1):
                    self.send(codec.sync_step2(self.doc.get_update(message.state_vector)))
                elif isinstance(message, codec.SyncStep2 | codec.Update):
                    self._remote = True
                    try:
                        self.doc.apply_update(message.update)
                    finally:
                        self._remote = False
                    if isinstance(message, codec.SyncStep2):
                        self.step2s += 1
                        self.synced.set()
                    self.changed.set()
                elif isinstance(message, codec.Awareness):
                    for entry in message.entries:
                        if entry.removed:
                            self.awareness.pop(entry.client_id, None)
                        else:
                            self.awareness[entry.client_id] = entry.state
                    self.changed.set()
                elif isinstance(message, codec.PermissionDenied):
                    self.denied.append(message.reason)
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self.changed.set()

    async def round_trip(self, timeout: float = 10.0) -> None:
        """Send a SyncStep1 and wait for its answer: the server handles a
        connection's frames in order, so every frame sent before it has been
        handled (taken, refused, or set aside to wait for its base)."""
        answered = self.step2s + 1
        self.send(codec.sync_step1(self.doc.get_state()))
        await self.wait(lambda: self.step2s >= answered, timeout)

    async def wait(self, predicate: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def wait_text(self, expected: str, timeout: float = 5.0) -> None:
        try:
            await self.wait(lambda: str(self.text) == expected, timeout)
        except TimeoutError:
            raise AssertionError(f"text is {str(self.text)!r}, expected {expected!r}") from None

    async def close(self) -> None:
        if self._subscription is None:
            return
        self.doc.unobserve(self._subscription)
        self._subscription = None
        with contextlib.suppress(Exception):
            await self.ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
