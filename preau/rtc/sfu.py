"""What Préau's call service needs from a Selective Forwarding Unit (SFU).

Above the mesh size a call's media goes through an SFU (Janus VideoRoom, see
``preau/rtc/janus``). Préau is its control plane: clients never talk to the SFU's
API, only to Préau over ``/ws``; Préau authorises each step and relays it.
This module holds the interface and the plain data it speaks in, nothing else:
no I/O, no import of a driver.

Words used below:

- *call*: ``call_id``, one room at the SFU.
- *participant*: an id unique in the call (the call service's seat id). A
  participant publishes at most one feed, named by its participant id, so any
  node can address it without asking another node.
- *subscription*: one participant receiving one publisher's feed (some or all
  of its kinds of media); its id is chosen by the backend.

Where state lives: the SFU's sessions and handles for a participant are held by
the node where that participant's socket is. A backend method that acts on a
participant's own handles (publish, answer, trickle, unpublish, leave) must run
on that node; the admin requests (``open_room``, ``close_room``, ``moderate``,
``kick``) may run on any node (they go to the SFU with the room's secret).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from preau.rtc.signal import Candidate


class MediaKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


ALL_KINDS: frozenset[MediaKind] = frozenset(MediaKind)

@dataclass(frozen=True, slots=True)
class Published:
    """The SFU's answer to a publisher's offer, and what it accepted."""

    answer_sdp: str
    kinds: frozenset[MediaKind]


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A new subscription: the SFU's offer, to be answered with :meth:`SfuBackend.answer`."""

    subscription: str
    offer_sdp: str
    kinds: frozenset[MediaKind]


class SfuError(Exception):
    """The SFU refused or failed a request. ``missing`` is true when what was
    named (room, feed, handle) does not exist there: the caller answers
    ``not_found`` rather than ``unavailable``."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


# Called (on the node holding the participant) when the SFU ends one of a
# participant's PeerConnections on its own: kicked, ICE/DTLS failed, the
# publisher left, the SFU restarted. Arguments: call id, participant id, target
# ("publish" or the subscription id), reason ("kicked", "hangup", "lost").
EndedCallback = Callable[[str, str, str, str], Awaitable[None]]


class SfuBackend(Protocol):
    """Control of SFU rooms for calls in SFU mode.

    Guarantees every implementation gives (tests/rtc/janus runs them on Janus):

    - ``open_room`` / ``close_room`` are idempotent: opening an open room or
      closing a closed one succeeds and changes nothing; any node may call them.
    - ``publish`` returns only after the SFU accepted the offer *and* applied
      the given mute state: with ``audio_muted`` the SFU forwards none of the
      publisher's audio, even before the client has its answer.
    - ``moderate`` is enforced by the SFU (it drops the media), not by asking
      the client; it also holds for a feed published later by the participant
      (publish takes the current state from the caller).
    - ``subscribe`` only ever forwards the ``kinds`` asked for: a pupil given
      ``{AUDIO}`` of another pupil's feed receives no video from it, whatever
      its answer says.
    - ``kick`` ends the participant's publication and subscriptions at the
      SFU; its ended callback fires with "kicked" on the node holding it.
    - ``leave`` drops everything the participant holds; idempotent; never raises.
    - Errors: :class:`SfuError` (``missing`` for unknown rooms/feeds/handles).
      Nothing is retried silently; the caller decides.
    """

    async def open_room(self, call_id: str, *, max_publishers: int) -> None: ...

    async def close_room(self, call_id: str) -> None: ...

    async def publish(
        self, call_id: str, participant: str, offer_sdp: str,
        *, audio_muted: bool, video_muted: bool,
    ) -> Published: ...

    async def unpublish(self, call_id: str, participant: str) -> None: ...

    async def subscribe(
        self, call_id: str, participant: str, publisher: str, kinds: frozenset[MediaKind]
    ) -> Subscribed: ...

    async def answer(
        self, call_id: str, participant: str, subscription: str, answer_sdp: str
    ) -> None: ...

    async def unsubscribe(self, call_id: str, participant: str, subscription: str) -> None: ...

    async def trickle(
        self, call_id: str, participant: str, target: str, candidate: Candidate | None
    ) -> None:
        """``target``: "publish" or a subscription id; ``None`` or an empty
        candidate: end of candidates. The candidate was checked by
        :func:`preau.rtc.signal.check_candidate`."""
        ...

    async def moderate(
        self, call_id: str, participant: str, *, audio_muted: bool, video_muted: bool
    ) -> None: ...

    async def kick(self, call_id: str, participant: str) -> None: ...

    async def leave(self, call_id: str, participant: str) -> None: ...

    def on_ended(self, callback: EndedCallback) -> None: ...

    async def close(self) -> None: ...
