"""Asyncio client for Préau: HTTP login and the ``/ws`` live protocol.

    async with await PreauClient.login("http://127.0.0.1:8000", "lea.martin", "…") as client:
        live = await client.connect()
        await live.subscribe(room_id)
        await live.send_message(room_id, "Bonjour !")
        event = await live.next_event("chat.message")

A :class:`LiveConnection` is one socket; a program that must outlive a
node's restart (a rolling upgrade closes sockets with 1012) holds a
:class:`preau_client.reconnecting.ReconnectingConnection` instead, which
reconnects by itself and resumes every room with ``since``.

Used by the test suite, the load tests and bots. Requires ``httpx``,
``websockets`` and ``orjson``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["LiveConnection", "PreauClient", "PreauError", "retry_delay"]


class PreauError(Exception):
    """An error answered by the server: ``code`` is stable (docs/protocol.md).

    ``details`` is the whole error object, with fields some codes add
    (``retry_after`` for ``rate_limited``, ``until`` for ``muted``).
    """

    def __init__(
        self, code: str, message: str, status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = dict(details or {})


def retry_delay(error: PreauError) -> float | None:
    """Seconds to wait before sending the same request again, or None when the
    refusal is final: ``unavailable`` with ``retry_after`` is a passing outage."""
    after = error.details.get("retry_after")
    if error.code != "unavailable" or not isinstance(after, int | float):
        return None
    return min(max(float(after), 0.05), 10.0)


def _raise_for(response: httpx.Response) -> dict[str, Any]:
    data: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        error = data.get("error", {})
        raise PreauError(error.get("code", "http_error"), error.get("message", ""),
                         response.status_code, error)
    return data


# Error messages come in the request's language, French unless asked
# otherwise (preau/server/messages.py); the SDK asks for English, its codes' language.
LANGUAGE = {"accept-language": "en"}


class PreauClient:
    """An authenticated person, talking HTTP with a bearer token."""

    def __init__(self, base_url: str, token: str, person: Mapping[str, Any]) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.person = dict(person)
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers={"authorization": f"Bearer {token}", **LANGUAGE},
            timeout=10,
        )

    @classmethod
    async def login(cls, base_url: str, login: str, password: str) -> PreauClient:
        async with httpx.AsyncClient(base_url=base_url, headers=LANGUAGE, timeout=10) as http:
            data = _raise_for(await http.post(
                "/api/auth/login", json={"login": login, "password": password, "kind": "bearer"}
            ))
        return cls(base_url, data["token"], data["person"])

    @classmethod
    async def activate(cls, base_url: str, login: str, code: str, password: str) -> PreauClient:
        async with httpx.AsyncClient(base_url=base_url, headers=LANGUAGE, timeout=10) as http:
            data = _raise_for(await http.post(
                "/api/auth/activate",
                json={"login": login, "code": code, "password": password, "kind": "bearer"},
            ))
        return cls(base_url, data["token"], data["person"])

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return _raise_for(await self.http.get(path, params=params))

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _raise_for(await self.http.post(path, json=dict(body or {})))

    async def put(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _raise_for(await self.http.put(path, json=dict(body or {})))

    async def me(self) -> dict[str, Any]:
        return await self.get("/api/me")

    async def upload(self, name: str, data: bytes, content_type: str | None = None
                     ) -> dict[str, Any]:
        """Upload a file (docs/protocol.md, "Attachments"); its ``attachment``
        record, whose ``id`` a message sends (``send_message(..., attachments=)``)."""
        headers = {"content-type": content_type} if content_type else {}
        found: dict[str, Any] = _raise_for(await self.http.post(
            "/api/attachments", params={"name": name}, content=data, headers=headers))
        return found

    async def history(self, room: str, **params: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = (
            await self.get(f"/api/rooms/{room}/messages", **params)
        )["messages"]
        return messages

    async def logout(self) -> None:
        await self.post("/api/auth/logout")

    async def connect(self, origin: str | None = None) -> LiveConnection:
        url = "ws" + self.base_url[4:] + "/ws"
        ws = await websockets.connect(
            url,
            additional_headers={"authorization": f"Bearer {self.token}", **LANGUAGE},
            origin=origin,  # type: ignore[arg-type]
            max_size=2**22,
            compression=None,
        )
        live = LiveConnection(ws)
        live.hello = await live.next_event("hello")
        return live

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> PreauClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class LiveConnection:
    """One ``/ws`` socket: requests get their reply, events queue up in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.retries = 0  # sends sent again after an ``unavailable`` (an outage)
        # Event consumers that take their events before the queue (call.py):
        # a tap returns True when the event was its own.
        self.taps: list[Callable[[dict[str, Any]], bool]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                data = orjson.loads(frame)
                waiter = self._waiting.pop(data["re"], None) if "re" in data else None
                if waiter is not None:
                    if not waiter.done():
                        waiter.set_result(data)
                elif not any(tap(data) for tap in tuple(self.taps)):
                    self.events.put_nowait(data)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(f"closed ({self.close_code})"))

    async def request(self, op: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        """Send a request and wait for its reply; raise :class:`PreauError` if refused."""
        reply = await self.request_raw({"op": op, **params}, timeout)
        if not reply["ok"]:
            error = reply["error"]
            raise PreauError(error["code"], error["message"], details=error)
        return reply

    async def request_raw(self, frame: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        request_id = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        try:
            await self.ws.send(orjson.dumps({"id": request_id, **frame}).decode())
        except websockets.ConnectionClosed as exc:
            # Closed under us (1012: the node restarts; reconnect, resume with
            # since, and send again with the same txn): one error for "closed".
            self._waiting.pop(request_id, None)
            raise ConnectionError(f"closed ({self.ws.close_code})") from exc
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiting.pop(request_id, None)  # unanswered: a late answer is dropped

    async def subscribe(self, room: str, since: int | None = None,
                        timeout: float = 10) -> dict[str, Any]:
        params: dict[str, Any] = {"room": room}
        if since is not None:
            params["since"] = since
        return await self.request("room.subscribe", timeout, **params)

    async def send_message(self, room: str, body: str, txn: str | None = None, *,
                           retry_for: float = 60.0, timeout: float = 10.0,
                           attachments: list[str] | None = None) -> dict[str, Any]:
        """Post a message. While the server answers ``unavailable`` with a
        ``retry_after`` (its store or broker is down: docs/protocol.md), the
        same ``txn`` is sent again after that delay, for up to ``retry_for``
        seconds: the server posts each ``txn`` once, so this never duplicates.
        ``timeout``: how long each attempt waits for its answer."""
        txn = txn or secrets.token_hex(8)
        deadline = asyncio.get_running_loop().time() + retry_for
        while True:
            try:
                if attachments:
                    return await self.request("chat.send", timeout, room=room, body=body,
                                              txn=txn, attachments=attachments)
                return await self.request("chat.send", timeout, room=room, body=body, txn=txn)
            except PreauError as exc:
                delay = retry_delay(exc)
                if delay is None or asyncio.get_running_loop().time() + delay > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(delay)

    async def next_event(self, name: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """The next event (of kind ``name``, skipping others)."""
        async def wait() -> dict[str, Any]:
            while True:
                event = await self.events.get()
                if name is None or event.get("ev") == name:
                    return event

        return await asyncio.wait_for(wait(), timeout)

    async def messages(self, room: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` chat messages of ``room``."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = await self.next_event("chat.message", timeout)
            if event["room"] == room:
                found.append(event)
        return found

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def __aenter__(self) -> LiveConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
