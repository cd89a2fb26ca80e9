"""Reading and rewriting a document's content on the server (export, restore).

Yjs updates do not say which type a root is (a root is only a name until a
client reads it as Text, Map…), so the server reads one root, ``content``,
with the type the document's kind names: ``text`` (Y.Text) or ``map`` (Y.Map
of JSON values). Other roots are stored and relayed untouched.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text

ROOT = "content"
KINDS = ("text", "map")


def _doc(state: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    if state:
        doc.apply_update(state)
    return doc


def read(state: bytes, kind: str) -> str | dict[str, Any]:
    """The content: a string for ``text``, a JSON-able dict for ``map``."""
    doc = _doc(state)
    if kind == "text":
        return str(doc.get(ROOT, type=Text))
    if kind == "map":
        value: dict[str, Any] = doc.get(ROOT, type=Map).to_py() or {}
        return value
    raise ValueError(f"unknown document kind {kind!r}")


def restore_update(current: bytes, version: bytes, kind: str) -> bytes:
    """One update that turns ``current`` into ``version``'s content, as an edit
    made now: it merges with concurrent edits like any other change, and the
    history before it stays (restoring is undoable by restoring again)."""
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    doc = _doc(current)
    before = doc.get_state()
    with doc.transaction():
        if kind == "text":
            # Formatting included (bold, headings, lists: a rich-text editor
            # such as Quill keeps them as attributes of the Y.Text).
            text = doc.get(ROOT, type=Text)
            delta = _doc(version).get(ROOT, type=Text).diff()
            if text.diff() != delta:
                text.clear()
                for value, attrs in delta:
                    # Explicit empty attributes: plain text, not the formatting
                    # of the chunk before it.
                    if isinstance(value, str):
                        text.insert(len(text), value, attrs or {})
                    else:
                        text.insert_embed(len(text), value, attrs or {})
        else:
            root = doc.get(ROOT, type=Map)
            target = read(version, kind)
            assert isinstance(target, dict)
            for key in list(root.keys()):
                if key not in target:
                    del root[key]
            for key, value in target.items():
                root[key] = value
    return doc.get_update(before)
