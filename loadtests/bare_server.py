"""The baseline: a bare ``websockets`` broadcast server speaking just enough of Préau's protocol.

    python -m loadtests.bare_server --port 8765

No authentication, no authorisation, no persistence, no rate limits: a
``hello`` on connect, ``room.subscribe`` adds the socket to a room,
``chat.send`` numbers the message, answers the sender and hands the
``chat.message`` event to ``websockets.broadcast()`` for the room's sockets.
It is the "bare websockets broadcast per room on uvloop" line of
shared/reference/performance.md, rebuilt so that it runs side by side with
Préau under the same load generator (``chat_fanout --server bare``): ratios
measured on one machine with one client are what can be compared.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


class BareChat:
    def __init__(self) -> None:
        self.rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self.heads: defaultdict[str, int] = defaultdict(int)
        self.ids = itertools.count(1)

    async def handler(self, ws: ServerConnection) -> None:
        joined: set[str] = set()
        await ws.send(orjson.dumps({"ev": "hello", "node": "bare"}).decode())
        try:
            async for frame in ws:
                request: dict[str, Any] = orjson.loads(frame)
                op = request.get("op")
                rid = request.get("id")
                room = str(request.get("room", ""))
                if op == "room.subscribe":
                    self.rooms[room].add(ws)
                    joined.add(room)
                    await ws.send(orjson.dumps(
                        {"re": rid, "ok": True, "room": room, "head": self.heads[room]}
                    ).decode())
                elif op == "chat.send":
                    seq = self.heads[room] = self.heads[room] + 1
                    ts = time.time_ns() // 1_000_000
                    message_id = f"m{next(self.ids)}"
                    await ws.send(orjson.dumps(
                        {"re": rid, "ok": True, "room": room, "seq": seq, "id": message_id,
                         "ts": ts, "duplicate": False}
                    ).decode())
                    broadcast(self.rooms[room], orjson.dumps(
                        {"ev": "chat.message", "room": room, "seq": seq, "id": message_id,
                         "sender": {"id": "", "name": ""}, "body": request.get("body"),
                         "txn": request.get("txn"), "ts": ts}
                    ).decode())
                else:
                    await ws.send(orjson.dumps(
                        {"re": rid, "ok": False, "error": {"code": "unknown_op", "message": ""}}
                    ).decode())
        finally:
            for room in joined:
                self.rooms[room].discard(ws)


def health(connection: ServerConnection, request: Request) -> Response | None:
    """Answer the benchmark's readiness probe (``GET /api/health``) over plain HTTP."""
    if request.path == "/api/health":
        return Response(HTTPStatus.OK.value, "OK", Headers({"Content-Length": "3"}), b"ok\n")
    return None


async def main_async(host: str, port: int) -> None:
    chat = BareChat()
    async with serve(chat.handler, host, port, compression=None, process_request=health,
                     max_size=2**20) as server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bare_server",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    import uvloop

    try:
        uvloop.run(main_async(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
