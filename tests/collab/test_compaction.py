"""Why compaction merges encoded updates instead of re-encoding a Doc."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab.compaction import compact
from collab.memory import MemoryDocumentStore


def three_edits() -> list[bytes]:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for chunk in ("ab", "cd", "ef"):
        text.insert(len(text), chunk)
    return updates


def text_of(*updates: bytes) -> str:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


def test_a_doc_drops_what_it_cannot_integrate_yet() -> None:
    first, second, third = three_edits()
    replica: Doc[Any] = Doc()
    replica.apply_update(first)
    replica.apply_update(third)  # its predecessor `second` is still missing
    re_encoded = replica.get_update()
    # Re-encoding the replica lost "ef" for good; this is what compaction avoids.
    assert text_of(re_encoded, second) == "abcd"


async def test_compaction_keeps_updates_whose_predecessor_is_missing() -> None:
    first, second, third = three_edits()
    store = MemoryDocumentStore()
    await store.append_update("d", first, "p", 1)
    await store.append_update("d", third, "p", 2)
    result = await compact(store, "d")
    assert result is not None
    assert result.merged_updates == 2
    stored = await store.load_log("d")
    assert stored.snapshot is not None
    assert stored.updates == ()
    # The missing update arrives after the compaction: nothing was lost.
    assert text_of(stored.snapshot, second) == "abcdef"
