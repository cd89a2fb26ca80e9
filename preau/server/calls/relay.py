"""Signalling relay and the call's broker channel, on each node.

Per-peer relay: an offer, answer or candidate is checked (shape, size, flood
budget, both peers seated in the same room, policy) on the sender's node and
written to the addressed peer only: directly if its socket is here, else
published on the call's channel with its peer id, where only the node holding
that peer writes it. After each committed change the outcome (events and the
new state) goes out on that channel; every node writes the events meant for
its own peers (:meth:`CallRelay._dispatch`) and keeps the state cached.
Breakout rooms' deadlines are timers here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

import orjson

from preau.rtc import room as rtc
from preau.rtc.room import ALL, MODERATORS, CallRefused, CallState, Refusal
from preau.rtc.signal import SdpType, SignalError, check_candidate, check_sdp
from preau.server.broker import Subscription
from preau.server.calls.core import CACHE_S, Cached, CallCore, LocalPeer, Socket
from preau.server.calls.rules import (
    channel_of,
    error_of,
    event_frame,
)
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.channels import Audience

log = logging.getLogger(__name__)


class CallRelay(CallCore):
    async def signal(
        self, socket: Socket, call_id: str, peer: str, to: str, kind: str,
        payload: Mapping[str, Any],
    ) -> None:
        """Relay one signalling message from ``peer`` (held by ``socket``) to ``to``.

        ``kind``: offer | answer (``payload`` has ``sdp``), candidate
        (``candidate``, ``sdpMid``, ``sdpMLineIndex``, ``usernameFragment``),
        end_of_candidates. Checked before anything is sent: shape and size,
        the pair's candidate budget, both seated in the same room of an open
        mesh call, teacher-only cameras.
        """
        await self._own(socket, call_id, peer)
        video = False
        body: dict[str, Any] = {"call": call_id, "from": peer, "kind": kind}
        try:
            if kind in ("offer", "answer"):
                summary = check_sdp(str(payload["sdp"]), SdpType(kind))
                video = summary.carries_video()
                body["sdp"] = payload["sdp"]
                body["restart"] = bool(payload.get("restart", False))
            elif kind == "candidate":
                body["candidate"] = check_candidate(
                    str(payload["candidate"]), payload.get("sdpMid"),
                    payload.get("sdpMLineIndex"), payload.get("usernameFragment"),
                ).to_wire()
        except SignalError as exc:
            code = ErrorCode.TOO_LARGE if exc.too_large else ErrorCode.BAD_REQUEST
            raise PreauError(code, str(exc)) from None
        state = await self._fresh(call_id)
        try:
            rtc.check_signal(state, peer, to, video=video)
        except CallRefused as exc:
            if exc.reason not in (Refusal.NO_SUCH_PEER, Refusal.NOT_IN_CALL):
                raise error_of(exc) from None
            # The cache may predate the addressed peer's arrival (its broker
            # message still on the way): the store decides.
            state = await self._calls.get(call_id) or state
            self._remember(state)
            try:
                rtc.check_signal(state, peer, to, video=video)
            except CallRefused as again:
                if again.reason is Refusal.NOT_IN_CALL and peer not in state.seats:
                    # Gone from the store (cut on another node, notice lost):
                    # answered as for a peer id never held.
                    raise PreauError(ErrorCode.NOT_IN_CALL,
                                     "you hold no such peer in this call") from None
                raise error_of(again) from None
        if kind == "candidate":
            if not self._budget.take(peer, to, time.monotonic()):
                raise PreauError(ErrorCode.RATE_LIMITED, "too many candidates for this peer",
                                 retry_after=1.0)
        elif kind in ("offer", "answer"):
            self._budget.refill(peer, to)
        frame = event_frame("call.signal", body)
        if to in self._peers:
            self._write(to, call_id, frame)
        else:
            await self._publish(call_id, {"k": "sig", "to": to, "frame": frame.decode()})

    async def _announce(self, ev: str, state: CallState) -> None:
        """Tell the class room's subscribers (a study group's people and the
        room's moderators only) that a call opened or closed. Best effort."""
        if self._hub is None:
            return
        frame = event_frame(ev, {"room": state.room_id, "call": state.to_wire()})
        try:
            if state.members is None:
                await self._hub.publish_ephemeral(state.room_id, frame)
            else:
                await self._hub.publish_to(state.room_id, frame,
                                           Audience(frozenset(state.members), True))
        except Exception:
            log.exception("announcing call %s failed", state.id)

    async def _fresh(self, call_id: str) -> CallState:
        cached = self._cache.get(call_id)
        if cached is None or time.monotonic() - cached.at > CACHE_S:
            state = await self._calls.get(call_id)
            if state is None:
                raise PreauError(ErrorCode.NOT_FOUND, "no such call")
            self._remember(state)
            return state
        return cached.state

    def _remember(self, state: CallState) -> None:
        cached = self._cache.get(state.id)
        if cached is None or cached.state.version <= state.version:
            self._cache[state.id] = Cached(state, time.monotonic())

    async def _dispatch(self, state: CallState, events: Iterable[rtc.Out],
                        before: CallState) -> None:
        """Write the events meant for this node's peers; tell the listeners.

        This node's peers were last shown ``_shown[call]``. An outcome from
        there or older is told already (a duplicate, or one a catch-up
        covered); one from further on first gets the events of what happened
        in between (``rtc.catch_up``): outcomes lost in a broker outage, or
        still on their way, are never lost to this node's peers."""
        shown = self._shown.get(state.id)
        if shown is not None and state.version <= shown.version:
            return
        if shown is not None and before.version > shown.version:
            await self._tell(before, list(rtc.catch_up(shown, before)), shown)
            if state is before:  # a catch-up alone (``catch_up_calls``)
                return
        await self._tell(state, list(events), before)

    async def catch_up_calls(self) -> None:
        """Bring this node's peers to each of their calls' stored state (after
        the broker lost messages: a broker listener). Never raises."""
        for call_id in sorted({p.call_id for p in self._peers.values()}):
            try:
                state = await self._calls.get(call_id)
                if state is not None:
                    self._remember(state)
                    await self._dispatch(state, (), state)
            except Exception:
                log.exception("catching call %s up after a broker loss failed", call_id)

    async def _tell(self, state: CallState, events: list[rtc.Out], before: CallState) -> None:
        for out in events:
            self._deliver(state, out)
        self._schedule_breakout_timer(state)
        await self._notify(state, events, before)
        released = {o.target for o in events if o.release}
        calls = set()
        for peer in released:
            local = self._peers.pop(peer, None)
            self._budget.forget(peer)
            if local is not None:
                calls.add(local.call_id)
        if state.status is not rtc.Status.ENDED and any(
                p.call_id == state.id for p in self._peers.values()):
            self._shown[state.id] = state
        else:
            self._shown.pop(state.id, None)
        for call_id in calls:
            await self._maybe_unlisten(call_id)
        if state.status is rtc.Status.ENDED:
            self._cache.pop(state.id, None)

    def _deliver(self, state: CallState, out: rtc.Out) -> None:
        if out.target == ALL:
            targets = [s.peer for s in state.seated()]
        elif out.target == MODERATORS:
            targets = [s.peer for s in state.moderators()]
        else:
            targets = [out.target]
        for peer in targets:
            if peer == out.exclude or peer not in self._peers:
                continue
            fields = dict(out.fields)
            if out.ev == "call.admitted":
                seat = state.seats.get(peer)
                if seat is not None:
                    fields = {**self.welcome(state, seat), **fields}
            self._write(peer, state.id, event_frame(out.ev, fields))

    def _write(self, peer: str, call_id: str, frame: bytes) -> None:
        local = self._peers.get(peer)
        if local is None or local.call_id != call_id or local.socket.closed:
            return
        if self.gate.held and not local.revoked:
            # Rights are being re-read: it goes once this peer is known to
            # keep its right (a revoked one is told at once, and only that).
            self._held.held_back(lambda: self._after_hold(local, frame))
            return
        local.socket.push(frame)
        self.relayed += 1

    def _after_hold(self, local: LocalPeer, frame: bytes) -> None:
        """A frame held while rights were re-read, now the gate is open: to
        a peer that kept its right, dropped for a revoked one. A peer released
        meanwhile (the call ended, it was removed or left) still gets it: its
        own ``call.ended`` or ``call.left`` is among them."""
        if not local.revoked and not local.socket.closed:
            local.socket.push(frame)
            self.relayed += 1

    def _schedule_breakout_timer(self, state: CallState) -> None:
        timer = self._timers.pop(state.id, None)
        if timer is not None:
            timer.cancel()
        if not state.breakout_ends_ms or state.status is rtc.Status.ENDED:
            return
        delay = max(0.0, (state.breakout_ends_ms - self._clock.now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[state.id] = loop.call_later(delay, self._due, state.id)

    def _due(self, call_id: str) -> None:
        # The coroutine is made when the timer fires, never for a cancelled timer.
        self._spawn(self._breakouts_due(call_id))

    async def _breakouts_due(self, call_id: str) -> None:
        """Every node serving the call tries; the transition is a no-op for all
        but the first (the deadline passed and the rooms are already closed)."""
        self._timers.pop(call_id, None)
        try:
            await self._apply(call_id, lambda s, _o: rtc.close_breakouts(
                s, None, self._clock.now_ms()))
        except Exception:
            log.exception("closing the breakout rooms of %s failed", call_id)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the call's broker channel ---------------------------------------------
    async def _publish(self, call_id: str, message: dict[str, Any]) -> None:
        try:
            await self._broker.publish(channel_of(call_id), orjson.dumps(message))
        except Exception:
            # At most once: peers on other nodes miss this one; their cached
            # state is re-read within CACHE_S and a lost signal is retried by
            # the client's negotiation (ICE restart).
            log.exception("publishing on call %s failed", call_id)

    async def _listen(self, call_id: str) -> None:
        if call_id in self._subs:
            return
        sub = await self._broker.subscribe(channel_of(call_id))
        if call_id in self._subs:  # another join raced us while subscribing
            await sub.close()
            return
        task = asyncio.get_running_loop().create_task(self._read(call_id, sub))
        self._subs[call_id] = (sub, task)

    async def _maybe_unlisten(self, call_id: str) -> None:
        if any(p.call_id == call_id for p in self._peers.values()):
            return
        entry = self._subs.pop(call_id, None)
        self._cache.pop(call_id, None)
        self._shown.pop(call_id, None)
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()
        if entry is not None:
            sub, task = entry
            task.cancel()
            with contextlib.suppress(Exception):
                await sub.close()

    async def _read(self, call_id: str, sub: Subscription) -> None:
        async for payload in sub:
            try:
                message = orjson.loads(payload)
                if message["k"] == "sig":
                    self._write(message["to"], call_id, message["frame"].encode())
                elif message["k"] == "out":
                    state = CallState.from_store(message["state"])
                    before = CallState.from_store(message["before"])
                    self._remember(state)
                    events = [rtc.Out(t, ev, f, ex, rel)
                              for t, ev, f, ex, rel in message["events"]]
                    await self._dispatch(state, events, before)
            except Exception:
                log.exception("bad message on call channel %s", call_id)
