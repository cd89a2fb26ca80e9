"""An ordered feed with gap fill, without I/O: sequence numbers in, contiguous runs out.

Chat messages and document updates are both numbered per room by the store
(seq 1, 2, 3, … in commit order) and reach a node from two directions: its
own commits, and the broker, which is at-most-once and unordered across
nodes. Both consumers need the same thing: hand items on strictly in seq
order, each exactly once, hold what arrives above a hole, and read the store
when a hole does not fill by itself. This is that core, shared by
``preau/server/live/hub.py`` (``RoomFeed``) and ``preau/collab/room.py``; the I/O (the
grace timer, the store read) is the caller's, which keeps this testable step
by step (tests/collab/test_ordered.py), the way python-websockets tests its
Sans-I/O protocol.

It lives in ``preau/collab/`` because that is the lowest layer both may import
(``collab`` imports nothing of ``server``; docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Released(Generic[T]):
    """One item handed on, in order. ``done``: the consumer already handled it
    when it arrived (a local commit applied at once), so it only moves the head."""

    seq: int
    item: T | None
    done: bool


class OrderedFeed(Generic[T]):
    """Items numbered by seq, released in seq order from ``head + 1`` on."""

    __slots__ = ("_done", "_held", "head")

    def __init__(self, head: int = 0) -> None:
        self.head = head  # every seq <= head has been released
        self._held: dict[int, T] = {}
        self._done: set[int] = set()

    def offer(self, seq: int, item: T) -> list[Released[T]]:
        """An item arrived; what can now be released, in order (a duplicate
        or an item at or below the head releases nothing)."""
        if self.known(seq):
            return []
        self._held[seq] = item
        return self._release()

    def done(self, seq: int) -> list[Released[T]]:
        """The consumer handled ``seq`` already (out of order if need be); it is
        released as done when its turn comes, with whatever it unblocks."""
        if self.known(seq):
            return []
        self._done.add(seq)
        return self._release()

    def known(self, seq: int) -> bool:
        """At or below the head, or waiting above it."""
        return seq <= self.head or seq in self._held or seq in self._done

    @property
    def waiting(self) -> bool:
        """Is something held above a hole?"""
        return bool(self._held or self._done)

    def hole(self) -> tuple[int, int] | None:
        """The first missing seq and the last one before the next held item
        (what to read from the store), or None when nothing waits."""
        if not self.waiting:
            return None
        above = min(min(self._held, default=self.head + 2**62),
                    min(self._done, default=self.head + 2**62))
        return self.head + 1, above - 1

    def reset(self, head: int) -> list[Released[T]]:
        """Go on from ``head`` (the consumer loaded everything up to it): what
        waited at or below it is dropped, and what it unblocks released."""
        self.head = head
        self._held = {s: i for s, i in self._held.items() if s > head}
        self._done = {s for s in self._done if s > head}
        return self._release()

    def held_items(self) -> list[tuple[int, T]]:
        """What waits above the hole, in seq order (for a consumer that rebuilds)."""
        return sorted(self._held.items())

    def _release(self) -> list[Released[T]]:
        out: list[Released[T]] = []
        while True:
            following = self.head + 1
            if following in self._done:
                self._done.remove(following)
                out.append(Released(following, None, True))
            elif following in self._held:
                out.append(Released(following, self._held.pop(following), False))
            else:
                return out
            self.head = following
