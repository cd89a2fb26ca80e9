"""Presence changes coalesced per room (issue 14, aim 4: a reconnection storm).

When a class comes back at once (a school's Wi-Fi returns, a node restarts),
each person's first socket used to announce ``presence.join`` to every other
subscriber of the room: N people arriving in a room of N cost N² frames, most
of a reconnection storm's writes. As Phoenix Presence batches its diffs per
broadcast period, a room's changes here go out at most once per window:

- a change in a room that announced nothing during the last window goes out at
  once, unchanged (``presence.join`` / ``presence.leave`` with ``person``): a
  quiet room's presence is as immediate as before;
- changes that follow within the window wait for its end and leave together,
  one frame per kind and audience: ``person`` when there is one, ``people``
  (a list) when there are several (docs/protocol.md). Only a person's last
  change counts: one who left and came back within the window is announced
  as joined;
- while changes keep coming (a storm), each window is twice the last, up to
  ``MAX_WINDOW_S``: a room of 30 whose people come back over ten seconds
  gets about four frames, not thirty. A window that ends with nothing
  waiting brings it back to ``WINDOW_S``.

Presence is best effort (what it announces is in ``presence.list`` and the
subscribe reply's ``online``): a frame that waits at most a window changes
nothing a client relies on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from preau.server.live.events import event

log = logging.getLogger(__name__)

# Phoenix.Tracker broadcasts its diffs every 1.5 s; a second keeps a room's
# second arrival quick enough to look live.
WINDOW_S = 1.0
MAX_WINDOW_S = 4.0

# (room, frame, hidden from parents) → published to the room's subscribers.
Publish = Callable[[str, bytes, bool], Awaitable[None]]


class PresenceBatcher:
    def __init__(self, publish: Publish, window_s: float = WINDOW_S,
                 max_window_s: float = MAX_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._publish = publish
        self.window_s = window_s
        self.max_window_s = max_window_s
        self._clock = clock
        self._last: dict[str, float] = {}  # room → when it last announced
        self._window: dict[str, float] = {}  # room → its current window, while a storm lasts
        # room → person id → (kind, person, hidden), in arrival order
        self._pending: dict[str, dict[str, tuple[str, dict[str, str], bool]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def announce(self, kind: str, room_id: str, person: dict[str, str],
                       hidden: bool) -> None:
        """``kind`` (``presence.join`` / ``presence.leave``) of ``person`` in
        the room; ``hidden``: parents must not see it (staff presence)."""
        now = self._clock()
        last = self._last.get(room_id)
        window = self._window.get(room_id, self.window_s)
        if room_id not in self._pending and (last is None or now - last >= window):
            self._last[room_id] = now
            self._window.pop(room_id, None)  # quiet for a window: back to the first
            if len(self._last) > 4096:
                self._last = {r: t for r, t in self._last.items()
                              if now - t < self.max_window_s}
                self._window = {r: w for r, w in self._window.items() if r in self._last}
            await self._publish(room_id, event(kind, room=room_id, person=person), hidden)
            return
        pending = self._pending.setdefault(room_id, {})
        pending.pop(person["id"], None)  # the last change counts, in its order
        pending[person["id"]] = (kind, person, hidden)
        if room_id not in self._timers:
            delay = max(0.0, (last or now) + window - now)
            self._timers[room_id] = asyncio.get_running_loop().call_later(
                delay, self._flush_soon, room_id)

    def _flush_soon(self, room_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.flush(room_id))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self, room_id: str) -> None:
        """Announce what waits for the room now."""
        timer = self._timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        pending = self._pending.pop(room_id, None)
        if not pending:
            return
        self._last[room_id] = self._clock()
        # Still busy: the next window is longer.
        self._window[room_id] = min(self.max_window_s,
                                    2 * self._window.get(room_id, self.window_s))
        groups: dict[tuple[str, bool], list[dict[str, str]]] = {}
        for kind, person, hidden in pending.values():
            groups.setdefault((kind, hidden), []).append(person)
        for (kind, hidden), people in groups.items():
            frame = (event(kind, room=room_id, person=people[0]) if len(people) == 1
                     else event(kind, room=room_id, people=people))
            try:
                await self._publish(room_id, frame, hidden)
            except Exception:
                log.exception("room %s: presence announcement failed", room_id)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        for task in list(self._flushing):
            task.cancel()
