"""Drive a stock Yjs client in Node (tests/collab/node/client.mjs) from asyncio.

The Node folder's dependencies come from its lock file (``scripts/test`` runs
``bootstrap_node tests/collab/node``); tests using this skip with that hint
when they are missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.needs import missing

NODE_DIR = Path(__file__).parent / "node"


def require_node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "y-websocket").is_dir():
        missing("Node.js and tests/collab/node's packages are needed: "
                    "run `npm ci` in tests/collab/node (scripts/test does)")
    return node


class NodeYClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.client_id: int | None = None
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._event = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(
        cls, server_url: str, room: str, token: str, *, reset: bool = False
    ) -> NodeYClient:
        """``reset``: on a refused edit, start a new copy as the web client does."""
        node = require_node()
        process = await asyncio.create_subprocess_exec(
            node, str(NODE_DIR / "client.mjs"), server_url, room, token,
            *(["reset"] if reset else []),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=NODE_DIR,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            self.client_id = line.get("client", self.client_id)
            if "ev" in line:
                self.events.append(line)
                self._event.set()
            else:
                await self._replies.put(line)

    async def command(self, op: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **params}).encode() + b"\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(timeout):
            reply = await self._replies.get()
        if "error" in reply:
            raise AssertionError(reply["error"])
        return reply

    async def text(self) -> str:
        return str((await self.command("text"))["text"])

    async def wait_event(
        self, ev: str, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if e["ev"] == ev]
                if len(found) >= count:
                    return found
                self._event.clear()
                await self._event.wait()

    async def wait_text(self, expected: str, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            current = await self.text()
            if current == expected:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"node text is {current!r}, expected {expected!r}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.process.returncode is None and self.process.stdin is not None:
            try:
                self.process.stdin.write(b'{"op": "quit"}\n')
                await self.process.stdin.drain()
            except ConnectionError:
                pass
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def stderr(self) -> str:
        if self.process.stderr is None or self.process.returncode is None:
            return ""
        return (await self.process.stderr.read()).decode(errors="replace")
