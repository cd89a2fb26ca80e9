"""A real Préau server process for end-to-end tests, on a free loopback port.

It runs ``python -m server.cli serve`` exactly as an operator would, on its
embedded default (SQLite, in-memory broker, demo school seeded), and the tests
talk to it over real sockets with the Python SDK.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from preau_client import LiveConnection, PreauClient, PreauError

PASSWORD = "Cahier-de-textes-42"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Account:
    login: str
    profile: str
    code: str
    name: str


class LiveServer:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, log_level: str = "warning"
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.env = {
            **os.environ,
            "PREAU_DATA_DIR": str(data_dir),
            "PREAU_NODE_ID": f"test-{self.port}",
            # Tests run at any hour: quiet hours only where a test sets them.
            "PREAU_QUIET_HOURS_DEFAULT": "off",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.accounts: dict[str, Account] = {}
        self._activated: set[str] = set()
        self.log_path = data_dir / "server.log"
        self.log_level = log_level

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "preau.server.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                self.log_level,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")
        codes = self.data_dir / "demo-accounts.txt"
        if codes.exists():
            for line in codes.read_text().splitlines()[1:]:
                m = re.match(r"^(\S+)\s+(\S+)\s+(\S{4}-\S{4}-\S{4})\s+(.*)$", line)
                if m:
                    self.accounts[m[1]] = Account(m[1], m[2], m[3], m[4].strip())
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def login_of(self, name: str) -> str:
        """The login of the demo person called ``name`` (e.g. "Léa Martin")."""
        for account in self.accounts.values():
            if account.name == name:
                return account.login
        raise KeyError(name)

    async def client(self, name: str) -> PreauClient:
        """A logged-in SDK client for a demo person (activated on first use)."""
        login = self.login_of(name)
        if login in self._activated:
            return await PreauClient.login(self.base_url, login, PASSWORD)
        client = await PreauClient.activate(
            self.base_url, login, self.accounts[login].code, PASSWORD
        )
        self._activated.add(login)
        return client

    @contextlib.asynccontextmanager
    async def clients(self, *names: str) -> AsyncIterator[dict[str, PreauClient]]:
        """Logged-in clients for these demo people, closed afterwards."""
        opened: dict[str, PreauClient] = {}
        try:
            for name in names:
                opened[name] = await self.client(name)
            yield opened
        finally:
            for client in opened.values():
                await client.close()

    def health(self) -> dict[str, object]:
        data: dict[str, object] = httpx.get(self.base_url + "/api/health", timeout=5).json()
        return data


async def refused(call: Any, code: str) -> PreauError:
    """Await ``call``, which must fail with the error ``code``; the error."""
    with pytest.raises(PreauError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


async def nothing(conn: LiveConnection, name: str) -> None:
    """No ``name`` event reached ``conn`` for what the test did so far.

    Proven by a later event, not by waiting: ``conn`` sends a ``ping`` and
    waits for its answer. A socket's frames arrive in the order the server
    wrote them, and on this one server an op's events are written before its
    reply; so once the ping is answered, every event caused by the ops already
    answered is in ``conn.events``. Those are looked at and left in order.
    """
    await conn.request("ping")
    arrived = []
    while not conn.events.empty():
        arrived.append(conn.events.get_nowait())
    for event in arrived:
        conn.events.put_nowait(event)
    assert [e for e in arrived if e.get("ev") == name] == [], arrived
