"""What the parts of the call service share (preau/server/calls/service.py composes them).

Where the state lives (docs/decisions.md, "Call state in the store"): each
call is one row holding its state machine (preau/rtc/room.py) as JSON; every change
is one short transaction under the school's lock (preau/server/store/calls.py), so
any node can serve any op and a crashed node loses nothing but its own seats
(dropped after its heartbeat goes silent). After a commit the node fans the
outcome out on the broker, one channel per call (``call:<id>``), with the new
state attached: each node keeps the latest state of the calls its sockets are
in, delivers events only to its own peers, and checks signalling against that
cached state (re-read from the store when older than :data:`CACHE_S`, so a lost
broker message costs at most that much staleness).

:class:`CallCore` holds the per-node state every part reads (this node's
peers, the cached states, the call channels' subscriptions, the timers and
listeners) and names the few methods one part calls in another, so each part
(``relay.py``, ``rights.py``, ``seating.py``, ``service.py``) is read alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from preau.collab.gate import HeldRelays, RelayGate
from preau.rtc import room as rtc
from preau.rtc.room import CallState, Outcome, Role
from preau.rtc.signal import CandidateBudget
from preau.rtc.turn import TurnConfig
from preau.server.broker import Broker, Subscription
from preau.server.clock import Clock
from preau.server.directory.model import Member, Room
from preau.server.directory.service import Directory
from preau.server.errors import PreauError
from preau.server.live.hub import Hub
from preau.server.moderation.shown_text import ShownTextGate
from preau.server.settings import Settings
from preau.server.store.calls import CallStore

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from preau.server.calls.seating import ControlListener

CACHE_S = 2.0  # a cached call state older than this is re-read before checking a signal

class Socket(Protocol):
    """What the service needs of a client socket (gateway Connection has it)."""

    id: str
    member: Member

    @property
    def closed(self) -> bool: ...

    def push(self, payload: bytes, wire: bytes | None = None) -> None: ...


@dataclass
class LocalPeer:
    peer: str
    call_id: str
    socket: Socket
    room_id: str
    # The person lost the right to the room: refused at once, until the cut
    # (a store transaction) releases the peer.
    revoked: bool = False


@dataclass
class Cached:
    state: CallState
    at: float


class CallCore:
    """The state of the call service on this node, shared by its parts."""

    _hub: Hub | None
    _text_gate: ShownTextGate | None
    _calls: CallStore
    _directory: Directory
    _broker: Broker
    _settings: Settings
    _clock: Clock
    _turn: TurnConfig
    node_id: str
    _peers: dict[str, LocalPeer]  # peer id → socket, for peers on this node
    _cache: dict[str, Cached]
    _shown: dict[str, CallState]  # call id → the state this node's peers were last told
    _subs: dict[str, tuple[Subscription, asyncio.Task[None]]]
    _timers: dict[str, asyncio.TimerHandle]
    _listeners: list[ControlListener]
    _budget: CandidateBudget
    _tasks: set[asyncio.Task[Any]]
    relayed: int  # signalling messages written to peers (loadtests read it)
    gate: RelayGate  # held while a directory change's rights are re-read
    _held: HeldRelays  # frames held while a directory change's rights are re-read

    # Implemented by one part, called by another (see each for what it does).
    async def _apply(self, call_id: str, transition: Callable[[CallState, int], Outcome],
                     *, unless_removed: str | None = None, removed: PreauError | None = None,
                     ) -> Outcome:
        raise NotImplementedError  # service.py

    def welcome(self, state: CallState, seat: rtc.Seat) -> dict[str, Any]:
        raise NotImplementedError  # service.py

    async def _own(self, socket: Socket, call_id: str, peer: str) -> None:
        raise NotImplementedError  # rights.py

    async def _class_room(self, member: Member, room_id: str) -> Room:
        raise NotImplementedError  # rights.py

    async def _role(self, member: Member, room: Room, state: CallState) -> tuple[Role, bool]:
        raise NotImplementedError  # rights.py

    def _remember(self, state: CallState) -> None:
        raise NotImplementedError  # relay.py

    async def _announce(self, ev: str, state: CallState) -> None:
        raise NotImplementedError  # relay.py

    async def _dispatch(self, state: CallState, events: Iterable[rtc.Out],
                        before: CallState) -> None:
        raise NotImplementedError  # relay.py

    async def _publish(self, call_id: str, message: dict[str, Any]) -> None:
        raise NotImplementedError  # relay.py

    async def _listen(self, call_id: str) -> None:
        raise NotImplementedError  # relay.py

    async def _maybe_unlisten(self, call_id: str) -> None:
        raise NotImplementedError  # relay.py

    def _spawn(self, coro: Awaitable[Any]) -> None:
        raise NotImplementedError  # relay.py

    async def _notify(self, state: CallState, events: list[rtc.Out], before: CallState) -> None:
        raise NotImplementedError  # seating.py
