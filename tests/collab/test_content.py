"""Reading and restoring a document's content on the server (export, versions)."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from preau.collab.content import read, restore_update


def test_restoring_a_text_version_keeps_its_formatting_and_merges() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    text.insert(0, "Titre\n", {"header": 1})
    text.insert(len(text), "du texte ")
    text.insert(len(text), "important", {"bold": True})
    version = doc.get_update()
    wanted = text.diff()
    text.insert(0, "brouillon ")
    text.format(0, 5, {"italic": True})

    # A client that has everything so far receives the restore as an edit.
    client: Doc[Any] = Doc()
    client.apply_update(doc.get_update())
    client.apply_update(restore_update(doc.get_update(), version, "text"))
    assert client.get("content", type=Text).diff() == wanted
    assert read(client.get_update(), "text") == "Titre\ndu texte important"


def test_restoring_what_is_already_there_changes_nothing() -> None:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "pareil", {"bold": True})
    state = doc.get_update()
    assert restore_update(state, state, "text") == b"\x00\x00"


def test_restoring_a_map_version() -> None:
    doc: Doc[Any] = Doc()
    ideas = doc.get("content", type=Map)
    ideas["racine"] = "Volcans"
    ideas["branche"] = ["lave"]
    version = doc.get_update()
    ideas["racine"] = "Séismes"
    ideas["ajout"] = 1
    del ideas["branche"]
    restored: Doc[Any] = Doc()
    restored.apply_update(doc.get_update())
    restored.apply_update(restore_update(doc.get_update(), version, "map"))
    assert read(restored.get_update(), "map") == {"racine": "Volcans", "branche": ["lave"]}


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown document kind"):
        read(b"\x00\x00", "slides")
    with pytest.raises(ValueError, match="unknown document kind"):
        restore_update(b"\x00\x00", b"\x00\x00", "slides")
