"""How compaction merges: garbage-collected like a Doc's state, lossless like mergeUpdates."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text, merge_updates

from preau.collab.compaction import compact, merge_log
from preau.collab.memory import MemoryDocumentStore


def recorded(*steps: tuple[str, int, Any]) -> list[bytes]:
    """Updates of a Y.Text edited by ``("insert", index, text)`` / ``("delete", index, n)``."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for kind, index, value in steps:
        if kind == "insert":
            text.insert(index, value)
        else:
            del text[index:index + value]
    return updates


def text_of(*updates: bytes) -> str:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


def doc_state(*updates: bytes) -> bytes:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc.get_update()


def test_a_doc_state_drops_structs_whose_predecessor_is_missing() -> None:
    first, second, third = recorded(("insert", 0, "ab"), ("insert", 2, "cd"),
                                    ("insert", 4, "ef"))
    assert text_of(doc_state(first, third), second) == "abcd"  # "ef" lost for good
    assert text_of(merge_log([first, third]), second) == "abcdef"


def test_a_doc_state_drops_deletions_of_items_it_has_not_seen() -> None:
    insert, delete = recorded(("insert", 0, "abc"), ("delete", 1, 1))
    assert text_of(doc_state(delete), insert) == "abc"  # the deletion is lost
    assert text_of(merge_log([delete]), insert) == "ac"


def test_deleted_text_is_garbage_collected() -> None:
    updates = recorded(("insert", 0, "x" * 5000), ("delete", 0, 5000), ("insert", 0, "ok"))
    assert len(merge_updates(*updates)) > 5000  # mergeUpdates keeps every deleted character
    assert len(merge_log(updates)) < 100
    assert text_of(merge_log(updates)) == "ok"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["insert", "delete"]), st.integers(0, 30),
                          st.text(alphabet="abc", min_size=1, max_size=3)),
                min_size=1, max_size=25),
       st.data())
def test_merging_any_subset_loses_nothing(steps: list[tuple[str, int, str]],
                                          data: st.DataObject) -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for kind, index, value in steps:
        if kind == "insert":
            text.insert(min(index, len(text)), value)
        elif len(text):
            start = min(index, len(text) - 1)
            del text[start:min(len(text), start + len(value))]
    if not updates:
        return
    # Compact any subset (in any order): the snapshot keeps all of it, with
    # what could not be integrated yet. Together with the rest it is the text.
    chosen = data.draw(st.lists(st.sampled_from(range(len(updates))), unique=True))
    rest = [u for i, u in enumerate(updates) if i not in chosen]
    snapshot = merge_log([updates[i] for i in chosen])
    assert text_of(merge_updates(snapshot, *rest)) == str(text)
    assert text_of(merge_log([snapshot, *rest])) == str(text)
    # As the store compacts (a prefix of its log, which is in causal order:
    # an update is stored before it is relayed) and a late joiner then reads
    # the snapshot and the updates above it one by one: the same text.
    # (Applying gapped updates one by one is where yrs itself loses content
    # when several wait for predecessors: docs/collab.md.)
    cut = data.draw(st.integers(0, len(updates)))
    assert text_of(merge_log(updates[:cut]), *updates[cut:]) == str(text)


async def test_compaction_keeps_updates_whose_predecessor_is_missing() -> None:
    first, second, third = recorded(("insert", 0, "ab"), ("insert", 2, "cd"),
                                    ("insert", 4, "ef"))
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
