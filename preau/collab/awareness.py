"""Who holds which awareness client id in one document, and what they show.

Awareness (cursors, names) is never stored. Each client id belongs to the
connection that first announced it (``owner``: ``"node/connection"``). Stock
y-websocket clients send back every awareness state they receive: such a
relay (an entry for an id owned by another live connection, with an older
clock, or the owner's latest clock and the same state, or a removal) is
dropped silently. Only a real attempt to change someone else's state (a
newer clock or a different state at the same clock) is *forged*, so nobody
can move someone else's cursor or rename them. No I/O here: the room
(preau/collab/room.py) sends, relays and publishes what this table decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from preau.collab import codec


@dataclass(slots=True)
class Slot:
    """The latest awareness entry of one client id, and who owns that id."""

    clock: int
    state: str
    owner: str | None  # "node/connection"; None once removed
    seen: float  # monotonic time of the last renewal
    person: str = ""  # whose connection owns (or last owned) it; "" unknown


class Claim(StrEnum):
    """What an awareness entry from a connection is, given who owns its id."""

    OWN = "own"  # the connection's own id
    CLAIM = "claim"  # a new id for it (or its own person's, back after a reconnect)
    RELAY = "relay"  # a stock client sending back what it received: dropped silently
    FORGED = "forged"  # a change to another live connection's state: refused


class AwarenessTable:
    """Client id → :class:`Slot`, with Yjs' rules and the ownership rules above."""

    def __init__(self, node_id: str, timeout_s: float, monotonic: Callable[[], float]) -> None:
        self.node_id = node_id
        self.timeout_s = timeout_s  # a remote entry not renewed this long is stale
        self.monotonic = monotonic
        self.slots: dict[int, Slot] = {}

    def __getitem__(self, client_id: int) -> Slot:
        return self.slots[client_id]

    def claim(self, entry: codec.AwarenessEntry, owner: str, person: str) -> Claim:
        """Whose entry this is. A stock client echoes every state it receives
        with the clock and state it got (JSON re-serialised), and a removal
        (state null, same clock) when a state was not renewed for 30 s on
        its side: all of that is a relay. Changing another live
        connection's state takes a newer clock or another state: forged."""
        slot = self.slots.get(entry.client_id)
        if slot is None:
            return Claim.CLAIM
        if slot.owner == owner:
            return Claim.OWN
        if slot.owner is not None and not self.stale(slot):
            if entry.clock < slot.clock:
                return Claim.RELAY
            if entry.clock == slot.clock and (
                    entry.removed or same_state(entry.state, slot.state)):
                return Claim.RELAY
            return Claim.FORGED
        # Nobody holds it now (its connection left, or its node went quiet).
        if slot.person and slot.person == person:
            return Claim.CLAIM  # the same person back (y-websocket keeps its id)
        if entry.clock > slot.clock:
            return Claim.CLAIM
        return Claim.RELAY  # an echo of a departed state

    def apply(self, entry: codec.AwarenessEntry, owner: str, person: str) -> bool:
        """Yjs' rule: a higher clock wins; at equal clocks only a removal does."""
        slot = self.slots.get(entry.client_id)
        if slot is not None:
            newer = entry.clock > slot.clock or (
                entry.clock == slot.clock and entry.removed and slot.state != "null"
            )
            # A new owner (the previous one left or went stale) starts afresh.
            if not newer and slot.owner == owner:
                return False
        now = self.monotonic()
        if entry.removed:
            self.slots[entry.client_id] = Slot(entry.clock, "null", None, now, person)
        else:
            self.slots[entry.client_id] = Slot(entry.clock, entry.state, owner, now, person)
        return True

    def remove_owned(self, owner: str, client_ids: set[int]) -> list[codec.AwarenessEntry]:
        """A connection closed: its ids' removals (clock + 1), as the Yjs
        reference server broadcasts them."""
        removed = []
        for client_id in client_ids:
            slot = self.slots.get(client_id)
            if slot is None or slot.owner != owner:
                continue
            slot.clock += 1
            slot.state = "null"
            slot.owner = None
            removed.append(codec.AwarenessEntry(client_id, slot.clock, "null"))
        return removed

    def remote(self, owner: str, person: str,
               entries: tuple[codec.AwarenessEntry, ...]) -> list[codec.AwarenessEntry]:
        """Entries from another node's connection; those taken."""
        accepted = []
        for entry in entries:
            slot = self.slots.get(entry.client_id)
            if slot is not None and slot.owner not in (None, owner) and not self.stale(slot):
                continue  # the id is held here (or by a third node): keep the holder's
            if self.apply(entry, owner, person):
                accepted.append(entry)
        return accepted

    def forget_removed(self) -> None:
        """Drop removed entries once stale, so a long-lived room stays small
        (their clock no longer matters: a returning client restarts above it
        or is a new owner)."""
        limit = self.monotonic() - self.timeout_s
        for client_id in [c for c, slot in self.slots.items()
                          if slot.owner is None and slot.seen < limit]:
            del self.slots[client_id]

    def stale(self, slot: Slot) -> bool:
        if slot.owner is not None and slot.owner.startswith(self.node_id + "/"):
            return False  # a connection of this node holds its ids while it is open
        return self.monotonic() - slot.seen > self.timeout_s

    def live(self) -> tuple[codec.AwarenessEntry, ...]:
        """Every state shown now (what a new connection is sent)."""
        return tuple(
            codec.AwarenessEntry(client_id, slot.clock, slot.state)
            for client_id, slot in self.slots.items()
            if slot.state != "null" and not self.stale(slot)
        )


def with_real_name(entry: codec.AwarenessEntry, name: str) -> codec.AwarenessEntry:
    """The entry with ``user.name`` set to the person's real name.

    Editors show ``user.name`` next to each cursor (y-quill, y-prosemirror,
    y-codemirror): left to the client, a pupil could appear as their teacher.
    A state without ``user`` is left alone (nothing is shown as a name).
    """
    if entry.removed:
        return entry
    value = json.loads(entry.state)  # a JSON object: the codec checked it
    user = value.get("user")
    if user is None:
        return entry
    if isinstance(user, dict) and user.get("name") == name:
        return entry
    value["user"] = {**user, "name": name} if isinstance(user, dict) else {"name": name}
    return codec.AwarenessEntry(
        entry.client_id, entry.clock,
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
    )


def same_state(relayed: str, held: str) -> bool:
    """The same awareness state, as JSON values (a relay re-serialises it)."""
    if relayed == held:
        return True
    try:
        return bool(json.loads(relayed) == json.loads(held))
    except ValueError:
        return False
