"""Compaction: merge a document's update log into its snapshot, so storage stays bounded.

Busy documents append one row per keystroke burst; left alone the log grows
without end (the failure that made large deployments turn pycrdt-websocket's
store off). ``compact`` reads the snapshot and the updates above it, merges
them into one update and asks the store to swap them in. The store does the
swap under a per-document lock held across nodes and only if the snapshot has
not moved since it was read (``base_seq``): two nodes compacting at once
cannot both win, and an update appended while we merged has a higher seq, so
it is neither merged nor deleted and stays in the log for the next round.

We merge with ``merge_updates`` (Yjs' mergeUpdates), not by loading a Doc and
re-encoding it. A Doc drops structs it cannot integrate yet (an update whose
causal predecessor is still missing, which out-of-order delivery produces),
and a snapshot without them would lose that content for good; merging the
encoded updates keeps everything. The price: deleted text is kept as
tombstoned content instead of being garbage-collected (docs/collab.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import merge_updates

from collab.ports import DocumentStore


@dataclass(frozen=True, slots=True)
class Compacted:
    upto_seq: int
    merged_updates: int
    bytes_before: int
    bytes_after: int


async def compact(store: DocumentStore, document_id: str) -> Compacted | None:
    """Compact once; None when there was nothing to merge or another node won."""
    stored = await store.load_log(document_id)
    if not stored.updates:
        return None
    parts = [u for _, u in stored.updates]
    if stored.snapshot is not None:
        parts.insert(0, stored.snapshot)
    merged = merge_updates(*parts)
    if not await store.replace_log(document_id, stored.snapshot_seq, stored.head, merged):
        return None
    return Compacted(stored.head, len(stored.updates), stored.stored_bytes, len(merged))
