"""One client's socket: its identity, its subscriptions and its bounded send queue.

Producers (replies, room fan-out) hand frames over without awaiting. When the
socket is writable and nothing is waiting, the frame is written at once
through the ``preau.write`` extension (gateway/uvicorn_protocol.py): no task
switch per delivered message, which is most of the cost of a fan-out in
asyncio. Otherwise it is queued and one writer task drains the queue through
plain ASGI sends, in order. The queue is bounded: a client that stops reading
fills it and is cut (close code 4008) rather than allowed to grow the server's
memory; it resumes later with ``since``. That outbound side is
:class:`~preau.server.live.outbox.Outbox`, shared with ``/collab`` sockets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from enum import IntEnum
from typing import Protocol

from starlette.types import Send

from preau.server.directory.model import Member
from preau.server.live import outbox
from preau.server.live.outbox import Outbox
from preau.server.messages import DEFAULT, Lang
from preau.server.ratelimit.buckets import TokenBucket

_ids = itertools.count(1)


class SessionRef(Protocol):
    """What the live layer needs of a session (``preau.server.auth.service.Session``
    has it): which session a socket belongs to, whose, and until when."""

    @property
    def token_hash(self) -> str: ...

    @property
    def person_id(self) -> str: ...

    @property
    def expires_ms(self) -> int: ...


class CloseCode(IntEnum):
    """WebSocket close codes Préau uses (docs/protocol.md)."""

    GOING_AWAY = outbox.GOING_AWAY  # server shutting down: reconnect elsewhere
    POLICY = 1008  # abusive client (floods after being told to slow down)
    SESSION_ENDED = 4001  # logout, password change, session expired: log in again
    ACCOUNT_CLOSED = 4003
    SLOW_CONSUMER = outbox.SLOW_CONSUMER  # stopped reading: reconnect and resume with since


class RoomState:
    """Where a connection is in a room's stream.

    ``last`` is the highest sequence number sent to this client. While the
    client catches up from the store (``live`` false), live frames wait in
    ``backlog`` and are released in order afterwards.
    """

    __slots__ = ("backlog", "last", "live")

    def __init__(self, last: int) -> None:
        self.last = last
        self.live = False
        self.backlog: list[tuple[int, bytes, bytes]] = []  # (seq, payload, wire frame)


class Connection(Outbox):
    """One ``/ws`` socket: who is on it, what it follows, and its outbound
    side (``Outbox``: ``push`` never blocks; a slow reader is cut)."""

    def __init__(
        self,
        send: Send,
        session: SessionRef,
        member: Member,
        *,
        queue_limit: int,
        ops_bucket: TokenBucket,
        can_abort: bool,
        direct_write: Callable[[bytes], bool] | None = None,
        node_id: str = "local",
    ) -> None:
        # Unique in the deployment: presence entries of all nodes share Redis.
        self.id = f"{node_id}.{next(_ids)}"
        self.session = session
        self.member = member
        self.rooms: dict[str, RoomState] = {}
        self.ops_bucket = ops_bucket
        self.refusals = 0  # rate-limit refusals in a row: past a bound, the client is abusive
        self.lang: Lang = DEFAULT  # its error messages' language (set at the upgrade)
        super().__init__(send, label=f"connection {self.id}", queue_limit=queue_limit,
                         binary=False, can_abort=can_abort, direct_write=direct_write)
