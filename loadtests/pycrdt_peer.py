"""pycrdt-websocket's ``WebsocketServer`` on ``websockets``' own asyncio server (uvloop).

    python -m loadtests.pycrdt_peer --port 1234

A peer of Préau in loadtests/collab_peers.py, started as pycrdt-websocket's
README does (``serve(websocket_server.serve, host, port)``), with the small
adapter that ``websockets`` 14+ needs (its connection has no ``path`` any
more). No persistence (pycrdt-websocket keeps rooms in memory unless given a
store), no authentication: the y-websocket protocol only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from pycrdt.websocket import WebsocketServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class Channel:
    """A ``websockets`` connection as pycrdt's ``Channel``."""

    def __init__(self, ws: ServerConnection) -> None:
        self._ws = ws
        self._path = ws.request.path if ws.request is not None else "/"

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration() from None

    async def send(self, message: bytes) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed:
            pass

    async def recv(self) -> bytes:
        message = await self._ws.recv()
        return message if isinstance(message, bytes) else message.encode()


async def main(port: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    async with WebsocketServer(exception_handler=lambda exc, log: True) as server:

        async def handler(ws: ServerConnection) -> None:
            await server.serve(Channel(ws))

        async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
            print(f"pycrdt-websocket listening on 127.0.0.1:{port}", flush=True)
            await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.port))
    except KeyboardInterrupt:
        pass
