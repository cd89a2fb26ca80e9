"""One Janus session over its HTTP API: handles, transactions, the long poll.

A node keeps one session per Janus instance and attaches one handle per
publication or subscription (plus one for admin requests). The session stays
alive through its long poll (``GET /janus/{session}``), which is also where
asynchronous plugin replies and handle events (hangup, kicked) arrive; they are
routed by ``transaction`` to the waiting request, or by ``sender`` to the
handle's listener.

If Janus forgets the session (restart, timeout) or cannot be reached for
longer than its session timeout, every pending request fails, every handle
is gone, and ``on_lost`` fires once: the owner tells its participants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from preau.rtc.janus.protocol import (
    HANDLE_NOT_FOUND,
    SESSION_NOT_FOUND,
    JanusError,
    PluginReply,
    parse_plugin_reply,
)

log = logging.getLogger(__name__)

HandleListener = Callable[[dict[str, Any]], Awaitable[None]]
LostListener = Callable[[], Awaitable[None]]

REQUEST_TIMEOUT_S = 10.0
# Janus answers a long poll after 30 s without events; a little more here.
POLL_TIMEOUT_S = 40.0
POLL_MAX_EVENTS = 20
# Poll failures in a row (each retried after a short pause) before the session
# is given up: by then Janus (60 s session timeout) has given it up as well.
POLL_FAILURES_MAX = 5


class JanusSession:
    def __init__(self, http: httpx.AsyncClient, url: str, api_secret: str | None) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._secret = api_secret
        self.id: int | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[int, HandleListener] = {}
        self._poller: asyncio.Task[None] | None = None
        self._lost_cbs: list[LostListener] = []
        self.lost = False

    def on_lost(self, callback: LostListener) -> None:
        self._lost_cbs.append(callback)

    async def start(self) -> None:
        reply = await self._post(self._url, {"janus": "create"})
        try:
            self.id = int(reply["data"]["id"])
        except (KeyError, TypeError, ValueError) as e:
            raise JanusError(0, "Janus created no session") from e
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.id is not None and not self.lost:
            with contextlib.suppress(httpx.HTTPError, JanusError):
                await self._post(f"{self._url}/{self.id}", {"janus": "destroy"})
        self._fail_pending(JanusError(SESSION_NOT_FOUND, "session closed"))

    async def attach(self, plugin: str, listener: HandleListener | None = None) -> int:
        reply = await self._post(self._session_url, {"janus": "attach", "plugin": plugin})
        try:
            handle = int(reply["data"]["id"])
        except (KeyError, TypeError, ValueError) as e:
            raise JanusError(0, f"Janus attached no {plugin} handle") from e
        if listener is not None:
            self._listeners[handle] = listener
        return handle

    async def detach(self, handle: int) -> None:
        """Drop a handle (its PeerConnection with it). Idempotent."""
        self._listeners.pop(handle, None)
        if self.lost:
            return
        try:
            await self._post(f"{self._session_url}/{handle}", {"janus": "detach"})
        except JanusError as e:
            if e.code not in (HANDLE_NOT_FOUND, SESSION_NOT_FOUND):
                raise

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> PluginReply:
        """Send a plugin request; wait for its synchronous or asynchronous reply."""
        txn = secrets.token_hex(8)
        msg: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[txn] = waiter
        try:
            first = await self._post(f"{self._session_url}/{handle}", msg, txn=txn)
            if first.get("janus") == "ack":
                first = await asyncio.wait_for(waiter, REQUEST_TIMEOUT_S)
            return parse_plugin_reply(first)
        except TimeoutError:
            raise JanusError(0, f"no reply to {body.get('request')!r} in time") from None
        finally:
            self._pending.pop(txn, None)

    async def trickle(self, handle: int, candidate: dict[str, Any]) -> None:
        """``candidate``: an RTCIceCandidateInit dict, or ``{"completed": True}``."""
        await self._post(
            f"{self._session_url}/{handle}", {"janus": "trickle", "candidate": candidate}
        )

    # -- plumbing ---------------------------------------------------------------

    @property
    def _session_url(self) -> str:
        if self.id is None or self.lost:
            raise JanusError(SESSION_NOT_FOUND, "no Janus session")
        return f"{self._url}/{self.id}"

    async def _post(
        self, url: str, msg: dict[str, Any], *, txn: str | None = None
    ) -> dict[str, Any]:
        msg = {**msg, "transaction": txn or secrets.token_hex(8)}
        if self._secret:
            msg["apisecret"] = self._secret
        try:
            resp = await self._http.post(url, json=msg, timeout=REQUEST_TIMEOUT_S)
            reply = resp.json()
        except httpx.HTTPError as e:
            raise JanusError(0, f"Janus unreachable: {type(e).__name__}") from e
        except ValueError as e:  # not JSON: not Janus's API at that URL
            raise JanusError(0, f"not a Janus reply (HTTP {resp.status_code})") from e
        if not isinstance(reply, dict):
            raise JanusError(0, "not a Janus reply")
        if reply.get("janus") == "error":
            err = reply.get("error") or {}
            code = int(err.get("code", 0))
            if code == SESSION_NOT_FOUND and self.id is not None:
                await self._mark_lost()
            raise JanusError(code, str(err.get("reason", "")))
        return reply

    async def _poll(self) -> None:
        failures = 0
        params: dict[str, str | int] = {"maxev": POLL_MAX_EVENTS}
        if self._secret:
            params["apisecret"] = self._secret
        while True:
            try:
                resp = await self._http.get(
                    f"{self._url}/{self.id}", params=params, timeout=POLL_TIMEOUT_S
                )
                events = resp.json()
            except (httpx.HTTPError, ValueError) as e:
                failures += 1
                log.warning("Janus poll failed (%d in a row): %s", failures, e)
                if failures >= POLL_FAILURES_MAX:
                    await self._mark_lost()
                    return
                await asyncio.sleep(1.0)
                continue
            failures = 0
            if isinstance(events, dict):
                events = [events]
            for event in events:
                if event.get("janus") == "error":
                    code = int((event.get("error") or {}).get("code", 0))
                    if code == SESSION_NOT_FOUND:
                        await self._mark_lost()
                        return
                    continue
                await self._dispatch(event)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        txn = event.get("transaction")
        if event.get("janus") == "event" and isinstance(txn, str):
            waiter = self._pending.get(txn)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
                return
        sender = event.get("sender")
        listener = self._listeners.get(sender) if isinstance(sender, int) else None
        if listener is None:
            return
        try:
            await listener(event)
        except Exception:  # one handle's listener must not stop the session's poll
            log.exception("Janus event listener failed")

    def _fail_pending(self, error: JanusError) -> None:
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pending.clear()

    async def _mark_lost(self) -> None:
        if self.lost:
            return
        self.lost = True
        log.error("Janus session %s at %s lost", self.id, self._url)
        self._fail_pending(JanusError(SESSION_NOT_FOUND, "Janus session lost"))
        self._listeners.clear()
        for cb in self._lost_cbs:
            try:
                await cb()
            except Exception:
                log.exception("Janus session-lost callback failed")
