"""How a feature adds ops to ``/ws`` without touching the gateway.

A feature (moderation, calls, …) hands the gateway an :class:`OpModule`: its
ops' parameter models, their handlers, and what to do when a socket closes.
The gateway keeps parsing, limits, authentication and error replies in one
place; the module only parses nothing and decides nothing outside its own ops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from server.gateway.connection import Connection
from server.gateway.protocol import Op, Request

Handler = Callable[[Connection, Request], Awaitable[dict[str, Any]]]


class OpModule(Protocol):
    def ops(self) -> Mapping[str, type[Op]]:
        """Op name → its parameters' model (strict, unknown fields refused)."""
        ...

    def handlers(self) -> Mapping[str, Handler]:
        """Op name → handler; the returned dict is the reply's fields. Raise
        :class:`~server.errors.PreauError` to answer with an error code."""
        ...

    async def on_disconnect(self, conn: Connection) -> None:
        """The socket closed (any reason): drop what it held (call seats, …).
        Must not raise; it runs for every closing socket."""
        ...
