"""An in-memory DocumentStore: the test fake, held to the same contract as SQL.

One process only (its "lock across nodes" is the event loop itself).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from preau.collab.ports import StoredLog


@dataclass
class _Log:
    snapshot: bytes | None = None
    snapshot_seq: int = 0
    head: int = 0
    updates: dict[int, bytes] = field(default_factory=dict)


class MemoryDocumentStore:
    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self.edits: list[tuple[str, str, int]] = []  # (document, person, at_ms)
        self._refused: dict[str, dict[int, int]] = {}
        self._owners: dict[str, dict[int, str]] = {}
        self._refused_for: dict[tuple[str, str], dict[int, int]] = {}

    async def append_update(
        self, document_id: str, update: bytes, person_id: str, at_ms: int
    ) -> int:
        entry = self._logs.setdefault(document_id, _Log())
        entry.head += 1
        entry.updates[entry.head] = update
        self.edits.append((document_id, person_id, at_ms))
        return entry.head

    async def load_log(self, document_id: str, after: int = 0) -> StoredLog:
        entry = self._logs.get(document_id)
        if entry is None:
            return StoredLog(None, 0, ())
        snapshot = entry.snapshot if after < entry.snapshot_seq else None
        updates = tuple(
            (seq, data) for seq, data in sorted(entry.updates.items()) if seq > after
        )
        return StoredLog(snapshot, entry.snapshot_seq, updates)

    async def replace_log(
        self, document_id: str, base_seq: int, upto_seq: int, snapshot: bytes
    ) -> bool:
        entry = self._logs.get(document_id)
        if (entry is None or entry.snapshot_seq != base_seq or upto_seq > entry.head
                or upto_seq <= base_seq):
            return False
        entry.snapshot = snapshot
        entry.snapshot_seq = upto_seq
        for seq in [s for s in entry.updates if s <= upto_seq]:
            del entry.updates[seq]
        return True

    async def refuse_clients(
        self, document_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        known = self._refused.setdefault(document_id, {})
        for client, clock in clients.items():
            known[client] = min(clock, known.get(client, clock))

    async def refused_clients(self, document_id: str) -> dict[int, int]:
        return dict(self._refused.get(document_id, {}))

    async def bind_clients(
        self, document_id: str, clients: Collection[int], person_id: str, at_ms: int
    ) -> dict[int, str]:
        owners = self._owners.setdefault(document_id, {})
        return {client: owners.setdefault(client, person_id) for client in clients}

    async def client_owners(
        self, document_id: str, clients: Collection[int] | None = None
    ) -> dict[int, str]:
        owners = self._owners.get(document_id, {})
        if clients is None:
            return dict(owners)
        return {c: owners[c] for c in clients if c in owners}

    async def refuse_copies(
        self, document_id: str, person_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        known = self._refused_for.setdefault((document_id, person_id), {})
        for client, clock in clients.items():
            known[client] = min(clock, known.get(client, clock))

    async def refused_copies(self, document_id: str, person_id: str) -> dict[int, int]:
        return dict(self._refused_for.get((document_id, person_id), {}))
