"""A subscription read in its own task (as the hub does), for the broker tests."""

from __future__ import annotations

import asyncio
import contextlib

from preau.server.broker import Subscription

TIMEOUT_S = 3.0  # generous: some readers wait on a real Redis


class Reader:
    """Iterates a subscription in its own task (as the hub does) into a queue."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for payload in self.sub:
            self.queue.put_nowait(payload)

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT_S)

    async def take(self, n: int) -> list[bytes]:
        return [await self.next() for _ in range(n)]

    async def ended(self) -> None:
        """Wait for the iteration to end by itself."""
        await asyncio.wait_for(asyncio.shield(self.task), TIMEOUT_S)
        assert self.task.done()
        assert self.task.exception() is None

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
