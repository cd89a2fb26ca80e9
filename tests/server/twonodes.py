"""Two Préau nodes in one process, for hub and moderation tests without a network.

Two nodes share one SQLite file and one in-memory bus, as two processes share
PostgreSQL and Redis. A client's socket is a recorder of the frames the
server would write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.types import Message

from preau.server.app import build_services, close_services, seed_demo
from preau.server.auth.service import Session
from preau.server.broker.memory import MemoryBroker, MemoryBus
from preau.server.clock import Clock
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI, demo_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Member
from preau.server.live.connection import Connection
from preau.server.ratelimit.buckets import TokenBucket
from preau.server.services import Services
from preau.server.settings import Settings
from preau.server.store import SessionRecord
from tests.server.settle import notify_before_returning


@dataclass
class Recorder:
    """Stands for a client socket: keeps every frame written to it."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            self.frames.append(orjson.loads(message["text"]))
            self.arrived.set()

    def seqs(self, room: str) -> list[int]:
        return [f["seq"] for f in self.frames
                if f.get("ev") == "chat.message" and f["room"] == room]

    async def wait_for(self, room: str, count: int, timeout: float = 5) -> list[int]:
        async with asyncio.timeout(timeout):
            while len(self.seqs(room)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.seqs(room)


@dataclass
class Nodes:
    a: Services
    b: Services

    def member(self, node: Services, name: str) -> Member:
        view = next(iter(node.directory._schools.values()))
        return next(m for m in view.members.values() if m.display_name == name)

    async def room(self, node: Services, class_name: str) -> str:
        view = next(iter(node.directory._schools.values()))
        return next(r.id for r in view.rooms.values() if r.name == class_name)

    def connect(self, node: Services, member: Member,
                token_hash: str | None = None) -> tuple[Connection, Recorder]:
        """A socket of ``member`` on ``node`` (under their real session's
        ``token_hash`` if given, so that revoking it closes the socket)."""
        recorder = Recorder()
        conn = Connection(
            recorder, Session(token_hash or "session-" + member.id, member.id, "bearer", 2**62),
            member,
            queue_limit=1000, ops_bucket=TokenBucket(100, 100), can_abort=False,
        )
        node.hub.register(conn)
        return conn, recorder

    async def reimport(self, rows: str, now_ms: int | None = None) -> None:
        """The demo school re-imported from ``rows`` on node a, announced as
        an import beside the server is; returns once node b has reloaded it."""
        reloaded = asyncio.Event()

        async def on_change(school_id: str) -> None:
            reloaded.set()

        self.b.directory.on_change(on_change)
        report = await import_directory(
            self.a.store, parse_csv(rows), uai=DEMO_UAI, school_name=DEMO_NAME,
            timezone=DEMO_TIMEZONE, activation_ttl_s=3600,
            now_ms=self.a.clock.now_ms() if now_ms is None else now_ms)
        await self.a.hub.directory_changed(report.school.id)
        async with asyncio.timeout(5):
            await reloaded.wait()


def demo_with_class_move(external_id: str, before: str, after: str) -> str:
    """The demo school's import file with one pupil moved from class to class."""
    moved = "\n".join(line.replace(f";{before};", f";{after};")
                      if line.startswith(f"{external_id};") else line
                      for line in demo_csv().splitlines()) + "\n"
    assert moved != demo_csv()
    return moved


# A Janus URL nothing listens on: calls may be in SFU mode, and the SFU
# answers `unavailable` (tests that need a real one run Janus: tests/rtc/janus).
DEAD_JANUS = "http://127.0.0.1:9/janus"


@contextlib.asynccontextmanager
async def two_nodes(
    tmp_path: Path, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Nodes]:
    bus = MemoryBus()
    # Tests run at any hour: quiet hours only where a test sets them.
    # An SFU URL, so calls may switch to SFU mode (services never contact it:
    # only the app opens the SFU backend); tests/server/calls shows the
    # service without one.
    settings = Settings(data_dir=tmp_path, sends_per_s=1000, sends_burst=1000,
                        quiet_hours_default="off", janus_urls=(DEAD_JANUS,), **overrides)
    a = notify_before_returning(
        await build_services(settings, broker=MemoryBroker("node-a", bus), clock=clock))
    b = notify_before_returning(
        await build_services(settings, broker=MemoryBroker("node-b", bus), clock=clock))
    report = await seed_demo(a)
    assert report is not None
    # A live session per person, as a login would create: the hub checks
    # sessions against the store when it resyncs after a broker loss.
    now = a.clock.now_ms()
    for account in report.created:
        await a.store.create_session(SessionRecord(
            "session-" + account.account.person_id, account.account.person_id, "bearer",
            now, now, now + 86_400_000))
    for node in (a, b):
        await node.directory.school(report.school.id)
        await node.hub.start()
    try:
        yield Nodes(a, b)
    finally:
        for node in (a, b):
            await close_services(node)
