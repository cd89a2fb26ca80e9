"""A gate that holds relays while rights may be stale.

A directory change made on another node reaches this one as a notice; the
school is then read again and every connection re-checked. Whatever is
relayed in between reaches sockets whose rights may already be gone (a pupil
moved to another class kept receiving her old class's documents, or heard
who joined its call, until the re-check). The host holds the gate from the
notice to the end of the re-check (``Directory.while_reloading``); relays
wait, in order, and go to whoever is left.

Used by the chat rooms (preau/server/live/hub.py), the document rooms
(preau/collab/room.py) and the calls (preau/server/calls/relay.py): each
defers a flush of what it held, and decides itself, at the flush, who still
gets it. Each keeps what it held with ``HeldRelays``.
"""

from __future__ import annotations

from collections.abc import Callable


class RelayGate:
    """Nested holds; the flushes deferred while held run, in order, at the
    last release."""

    def __init__(self) -> None:
        self._holds = 0
        self._waiting: list[Callable[[], None]] = []

    @property
    def held(self) -> bool:
        return self._holds > 0

    def hold(self) -> None:
        self._holds += 1

    def release(self) -> None:
        self._holds = max(0, self._holds - 1)
        if self._holds == 0:
            waiting, self._waiting = self._waiting, []
            for flush in waiting:
                flush()

    def defer(self, flush: Callable[[], None]) -> None:
        self._waiting.append(flush)


class HeldRelays:
    """One relayer's deliveries kept while its gate is held, in order.

    ``held_back(deliver)`` keeps ``deliver`` and answers True when the gate is
    held (the first one kept asks the gate for a flush); at the release every
    kept delivery runs, in the order it came, and decides then who still
    gets it."""

    def __init__(self, gate: RelayGate) -> None:
        self.gate = gate
        self._held: list[Callable[[], None]] = []

    def held_back(self, deliver: Callable[[], None]) -> bool:
        if not self.gate.held:
            return False
        if not self._held:
            self.gate.defer(self._flush)
        self._held.append(deliver)
        return True

    def _flush(self) -> None:
        held, self._held = self._held, []
        for deliver in held:
            deliver()
