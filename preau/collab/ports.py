"""What ``collab`` needs from its host, as small Protocols.

The host (``preau/server/documents``) passes a broker, a document store and an
authoriser in; ``collab`` never imports them. The in-memory store
(``preau/collab/memory.py``) is the test fake and passes the same contract suite as
the SQL store (tests/server/documents/test_store_contract.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class Access(IntEnum):
    """What a person may do with a document; ordered, so ``>=`` compares rights."""

    NONE = 0
    READ = 1  # receives everything, changes nothing
    WRITE = 2


class Authoriser(Protocol):
    async def access(self, person_id: str, document_id: str) -> Access:
        """The person's rights on the document *now* (NONE for an unknown document)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A document's persisted state: an optional snapshot and the updates after it.

    ``snapshot`` merges every update up to ``snapshot_seq`` (None when there
    is none, or when the reader asked only for updates after a seq at or above
    it). ``updates`` are ``(seq, update)`` pairs in seq order, all above
    ``snapshot_seq`` and above the ``after`` asked for.
    """

    snapshot: bytes | None
    snapshot_seq: int
    updates: tuple[tuple[int, bytes], ...]

    @property
    def head(self) -> int:
        """The highest seq this log covers."""
        return self.updates[-1][0] if self.updates else self.snapshot_seq

    @property
    def stored_bytes(self) -> int:
        return len(self.snapshot or b"") + sum(len(u) for _, u in self.updates)


class DocumentStore(Protocol):
    """A document's update log, with compaction.

    Guarantees:
    - ``append_update`` is one transaction; seqs per document are gapless and
      strictly increasing: once seq ``n`` is visible, every seq below it is
      visible too or was merged into the snapshot;
    - ``replace_log`` (compaction) takes a per-document lock held across nodes,
      writes the snapshot and deletes exactly the updates it merged
      (``seq <= upto_seq``); updates appended meanwhile (higher seqs) stay. It
      returns False, changing nothing, when the snapshot moved since
      ``base_seq`` (another compactor won);
    - the store never interprets the bytes (CRDT work stays in ``collab``).
    """

    async def append_update(
        self, document_id: str, update: bytes, person_id: str, at_ms: int
    ) -> int:
        """Append one accepted update; return its seq. Also records that
        ``person_id`` edited the document at ``at_ms`` (the edit history).
        ``LookupError`` when the store has no such document (deleted)."""
        ...

    async def load_log(self, document_id: str, after: int = 0) -> StoredLog:
        """The snapshot (when ``after`` is below its seq) and the updates above
        ``after``. An unknown document has an empty log."""
        ...

    async def replace_log(
        self, document_id: str, base_seq: int, upto_seq: int, snapshot: bytes
    ) -> bool: ...

    async def refuse_clients(
        self, document_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        """Remember, for every node, that the Yjs ``clients`` (client id → the
        first clock refused) hold changes the document refused: their structs
        from that clock on are never accepted (docs/collab.md, "Refused
        edits"). A client already remembered keeps the lower clock."""
        ...

    async def refused_clients(self, document_id: str) -> dict[int, int]:
        """Every refused client of the document, with its first refused clock."""
        ...

    async def refuse_copies(
        self, document_id: str, person_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        """``refuse_clients`` for the changes of ``person_id`` only: copies
        nobody owns, condemned for the person who held them when refused."""
        ...

    async def refused_copies(self, document_id: str, person_id: str) -> dict[int, int]:
        """The copies refused for ``person_id``, with their first refused clock."""
        ...

    async def bind_clients(
        self, document_id: str, clients: Collection[int], person_id: str, at_ms: int
    ) -> dict[int, str]:
        """Bind each of the Yjs ``clients`` not bound yet to ``person_id`` (the
        first binding wins, across nodes); return the owner of each of them."""
        ...

    async def client_owners(
        self, document_id: str, clients: Collection[int] | None = None
    ) -> dict[int, str]:
        """The owner of each bound client of the document (of ``clients`` only
        when given)."""
        ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class Broker(Protocol):
    """Publish/subscribe by channel across nodes: at most once, ordered per
    publisher and channel, no echo to the publishing node."""

    node_id: str

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def subscribe(self, channel: str) -> Subscription: ...
