"""Compaction: merge a document's update log into its snapshot, so storage stays bounded.

Busy documents append one row per keystroke burst; left alone the log grows
without end (the failure that made large deployments turn pycrdt-websocket's
store off). ``compact`` reads the snapshot and the updates above it, merges
them into one update and asks the store to swap them in. The store does the
swap under a per-document lock held across nodes and only if the snapshot has
not moved since it was read (``base_seq``): two nodes compacting at once
cannot both win, and an update appended while we merged has a higher seq, so
it is neither merged nor deleted and stays in the log for the next round.

How we merge (:func:`merge_log`) matters twice:

- *size*: integrating the log into a Doc and encoding its state
  garbage-collects deleted text; merging the encoded updates
  (``merge_updates``, Yjs' mergeUpdates) keeps every deleted character. On
  the automerge-paper trace: 377 KiB against 4.4 MiB, and a Doc takes 6 ms
  to load the first, 4 s the second (docs/benchmarks.md);
- *loss*: a Doc silently leaves out of its encoded state what it could not
  integrate yet (pycrdt/yrs, unlike Yjs' encodeStateAsUpdate): structs whose
  causal predecessor has not arrived, deletions of items it has not seen.
  Out-of-order delivery produces exactly those, and a snapshot without them
  would lose that content for good. So we add back, from every part, what
  the Doc's state vector does not cover (``get_update(part, state_vector)``,
  Yjs' diffUpdate: the structs beyond it and the whole delete set).
  tests/collab/test_compaction.py shows both losses and that this keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, merge_updates

from preau.collab import crdt
from preau.collab.ports import DocumentStore


@dataclass(frozen=True, slots=True)
class Compacted:
    upto_seq: int
    merged_updates: int
    bytes_before: int
    bytes_after: int


def merge_log(parts: Sequence[bytes]) -> bytes:
    """One update equivalent to all of ``parts`` (in any order), garbage-collected."""
    if not parts:
        return b"\x00\x00"
    doc: Doc[Any] = Doc()
    # One integration per part: far faster than integrating one merged
    # update that still carries every deleted character. A part pycrdt
    # cannot integrate (stored, then refused by yrs) is left out everywhere
    # alike, so every replica and snapshot agree.
    kept = [part for part in parts if crdt.apply(doc, part)]
    state_vector = doc.get_state()
    not_integrated = [d for d in (crdt.diff(part, state_vector) for part in kept)
                      if d is not None]
    return merge_updates(doc.get_update(), *not_integrated)


async def compact(store: DocumentStore, document_id: str) -> Compacted | None:
    """Compact once; None when there was nothing to merge or another node won."""
    stored = await store.load_log(document_id)
    if not stored.updates:
        return None
    parts = [u for _, u in stored.updates]
    if stored.snapshot is not None:
        parts.insert(0, stored.snapshot)
    merged = merge_log(parts)
    if not await store.replace_log(document_id, stored.snapshot_seq, stored.head, merged):
        return None
    return Compacted(stored.head, len(stored.updates), stored.stored_bytes, len(merged))
