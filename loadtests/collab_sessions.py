"""A document's cost per keystroke as its history of editor sessions grows.

```sh
.venv/bin/python -m loadtests.collab_sessions --sessions 2,300,1000 --keystrokes 2000
```

Yjs picks a new client id at every page load, and a document keeps the id
of every session that ever typed in it: a class's document used through a
term holds hundreds. The room checks each update against its replica's
state vector, which has an entry per id. This benchmark measures, in
process (no sockets: the room's own work), the CPU per keystroke of one
writer typing with four readers connected, in a document that ``--sessions``
earlier sessions each typed a character in (stored in an in-memory document
store, loaded by the room as after a restart). Figures: docs/benchmarks.md.
Speed is measured here, never asserted in tests (tests/loadtests has a tiny
smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Text, TransactionEvent

from preau.collab import codec
from preau.collab.memory import MemoryDocumentStore
from preau.collab.ports import Access
from preau.collab.room import Limits
from preau.collab.rooms import DocumentRooms
from preau.server.broker.memory import MemoryBroker, MemoryBus

DOCUMENT = "document"
READERS = 4
WARMUP = 200  # keystrokes before the measure


@dataclass
class _Peer:
    id: str
    person_id: str
    access: Access
    name: str = "Élève"
    received: int = 0
    refusals: list[bytes] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.received += 1
        if frame.startswith(b"\x02"):  # permission-denied
            self.refusals.append(frame)

    def close(self, code: int, reason: str) -> None:
        raise RuntimeError(f"{self.id} closed: {code} {reason}")


@dataclass(frozen=True)
class _Rights:
    async def access(self, person_id: str, document_id: str) -> Access:
        return Access.WRITE if person_id == "writer" else Access.READ


@dataclass(frozen=True)
class Result:
    sessions: int
    keystrokes: int
    us_per_keystroke: float
    delivered: int
    refused: int


async def measure(sessions: int, keystrokes: int) -> Result:
    store = MemoryDocumentStore()
    history: Doc[Any] = Doc()
    history.get("content", type=Text)
    for _ in range(sessions):  # each session typed one character
        session: Doc[Any] = Doc()
        session.apply_update(history.get_update())
        session.get("content", type=Text).insert(0, "x")
        update = session.get_update(history.get_state())
        history.apply_update(update)
        await store.append_update(DOCUMENT, update, "p", 1_000)
    broker = MemoryBroker("bench", MemoryBus())
    never = 10**12  # no compaction inside the measure
    rooms = DocumentRooms(store=store, broker=broker, authoriser=_Rights(),
                          limits=Limits(compact_after_updates=never, compact_after_bytes=never),
                          now_ms=lambda: 1_000)
    try:
        room = await rooms._open(DOCUMENT)
        writer = _Peer("w", "writer", Access.WRITE)
        readers = [_Peer(f"r{i}", f"reader-{i}", Access.READ) for i in range(READERS)]
        for peer in (writer, *readers):
            room.join(peer)
        editor: Doc[Any] = Doc()
        editor.apply_update(room.encoded_state())
        frames: list[bytes] = []

        def typed(event: TransactionEvent) -> None:
            frames.append(codec.update(event.update))

        editor.observe(typed)
        text = editor.get("content", type=Text)
        for n in range(WARMUP + keystrokes):
            text.insert(n % 40, "a")
        for frame in frames[:WARMUP]:
            await room.receive(writer, frame)
        start = time.process_time()
        for frame in frames[WARMUP:]:
            await room.receive(writer, frame)
        spent = time.process_time() - start
        delivered = min(r.received for r in readers)
        return Result(sessions, keystrokes, spent / keystrokes * 1e6, delivered,
                      len(writer.refusals))
    finally:
        await rooms.close()
        await broker.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.collab_sessions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="2,300,1000",
                        help="comma-separated: earlier sessions in the document")
    parser.add_argument("--keystrokes", type=int, default=2000)
    args = parser.parse_args(argv)
    for sessions in (int(s) for s in args.sessions.split(",")):
        result = asyncio.run(measure(sessions, args.keystrokes))
        print(f"{sessions} earlier sessions: {result.us_per_keystroke:.1f} µs of CPU per"
              f" keystroke ({result.keystrokes} keystrokes, {READERS} readers; delivered"
              f" to each {result.delivered}, refused {result.refused})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
