"""Refused edits, decided without I/O: which Yjs copies hold a change the
document refused, and whether an update carries, builds on or deletes one.

A refused update is never stored, but the client that sent it keeps it in its
copy, and every later change of that copy builds on it. So a document
remembers (in the store, for every node) the Yjs client ids whose changes it
refused, from the first refused clock on (``refused``: client → clock), and
refuses whatever touches their refused structs (docs/collab.md, "Refused
edits"). preau/collab/room.py does the storing and telling.
"""

from __future__ import annotations

from collections.abc import Iterable

from preau.collab.updates import UpdateIds


def touches(refused: dict[int, int], ids: UpdateIds) -> bool:
    """Does the update carry, build on or delete a refused change?"""
    if not refused:
        return False
    for client, (_, end) in ids.structs.items():
        if client in refused and end > refused[client]:
            return True
    for client, clock in ids.references.items():
        if client in refused and clock >= refused[client]:
            return True
    for client, ranges in ids.deletes.items():
        if client in refused and any(
                length and start + length > refused[client] for start, length in ranges):
            return True
    return False


def marks(ids: UpdateIds | None, awareness_ids: Iterable[int],
          known: dict[int, int]) -> dict[int, int]:
    """The clients an update refused for good names, and from which clock:
    the structs it carried beyond what the document holds (``known``: its
    state vector), and the connection's awareness ids (a stock provider's is
    its doc's client id, which names the copy even when the refused change
    was only a deletion)."""
    out: dict[int, int] = {}
    if ids is not None:
        for client, (start, end) in ids.structs.items():
            held = known.get(client, 0)
            if end > held:
                out[client] = max(start, held)
    for client in awareness_ids:
        out.setdefault(client, known.get(client, 0))
    return out


def merge(refused: dict[int, int], clients: dict[int, int]) -> dict[int, int]:
    """Add ``clients`` to ``refused`` (the lower clock wins); what was new."""
    new = {c: clock for c, clock in clients.items() if c not in refused or clock < refused[c]}
    refused.update(new)
    return new
