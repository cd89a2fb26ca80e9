"""The ``/ws`` op registry: one table ``{op: (Model, handler)}`` every op joins the same way.

A feature (the core chat ops, moderation, reading, calls, SFU) hands the
gateway an :class:`OpModule`. Its handlers carry their op name and parameter
model with :func:`op`, right where they are written::

    class ReadingOps:
        @op("chat.read", protocol.MessageRef)
        async def _read(self, conn: Connection, request: Request) -> dict[str, Any]: ...

:func:`table` reads them into ``{op: (Model, handler)}``; :class:`OpRegistry`
joins the modules' tables (a name claimed twice is an error at start-up) and
is what the gateway parses against, dispatches through and publishes at
``/api/ws-schema``. The gateway keeps parsing, limits, authentication and
error replies in one place; a module decides nothing outside its own ops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from preau.server.gateway.protocol import Op, Request
from preau.server.live.connection import Connection

Handler = Callable[[Connection, Request], Awaitable[dict[str, Any]]]
OpTable = Mapping[str, tuple[type[Op], Handler]]

_MARK = "__preau_ops__"
F = TypeVar("F", bound=Callable[..., Awaitable[dict[str, Any]]])


def op(name: str, model: type[Op]) -> Callable[[F], F]:
    """Declare a handler method as op ``name`` with parameters ``model``
    (stackable: one handler for several ops)."""

    def mark(method: F) -> F:
        marks: list[tuple[str, type[Op]]] = getattr(method, _MARK, [])
        setattr(method, _MARK, [(name, model), *marks])  # decorators apply bottom-up
        return method

    return mark


def _declared(cls: type) -> Iterable[tuple[str, type[Op], str]]:
    """(op, model, attribute) for every :func:`op` of ``cls``, in definition order."""
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            for name, model in getattr(value, _MARK, ()):
                if name not in seen:
                    seen.add(name)
                    yield name, model, attr


def models(cls: type) -> dict[str, type[Op]]:
    """The ops a module class declares: name → parameters' model (no instance needed)."""
    return {name: model for name, model, _ in _declared(cls)}


def table(module: object) -> dict[str, tuple[type[Op], Handler]]:
    """``{op: (Model, bound handler)}`` of a module built with :func:`op`."""
    return {name: (model, getattr(module, attr)) for name, model, attr in _declared(type(module))}


class OpModule(Protocol):
    def ops(self) -> OpTable:
        """Op name → (its parameters' model — strict, unknown fields refused —,
        its handler). A handler's returned dict is the reply's fields; raise
        :class:`~preau.server.errors.PreauError` to answer with an error code."""
        ...

    async def on_disconnect(self, conn: Connection) -> None:
        """The socket closed (any reason): drop what it held (call seats, …).
        Must not raise; it runs for every closing socket."""
        ...


class OpRegistry:
    """Every op the gateway accepts, each from exactly one module."""

    def __init__(self, modules: Iterable[OpModule] = ()) -> None:
        self.modules: list[OpModule] = []
        self.models: dict[str, type[Op]] = {}
        self.handlers: dict[str, Handler] = {}
        for module in modules:
            self.join(module)

    def join(self, module: OpModule) -> None:
        ops = module.ops()
        clash = set(ops) & set(self.models)
        if clash:
            raise ValueError(f"op module {module!r}: ops already registered: {sorted(clash)}")
        for name, (model, handler) in ops.items():
            self.models[name] = model
            self.handlers[name] = handler
        self.modules.append(module)
