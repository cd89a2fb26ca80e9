"""One load-generator process: many client sockets, driven by the coordinator over a pipe.

The coordinator (``loadtests/chat_fanout.py``) starts several of these and
sends each a sequence of commands; every command gets one answer:

``("open", seats)``
    Open one authenticated ``/ws`` socket per seat and subscribe it to the
    seat's room. Answer ``("opened", ok, failed, first_errors)``.
``("run", plan)``
    Senders post ``chat.send`` at ``plan.rate`` from ``plan.send_start`` to
    ``plan.send_end`` (absolute ``time.time()`` seconds). Every receiver
    notes the end-to-end latency of each ``chat.message`` from the send time
    carried in its body, and counts deliveries received inside the measured
    window ``[plan.t0, plan.t1)``. Once the senders are done and their replies
    are in, answer ``("acks", {room: highest acked seq}, sent, acked)``.
``("heads", {room: seq})``
    Wait (bounded) until every socket has received its room's messages up to
    the given head, then answer ``("result", WorkerResult)``.
``("close",)``
    Close every socket and answer ``("closed", n)``; the process then exits.

Exactly-once is checked per socket from sequence numbers: the server
delivers each room in order, so a seq at or below the last one seen is a
duplicate (or a reordering, which is as wrong), and a jump is a gap.

Leanness matters (2 cores shared with the server): the sockets are bare
asyncio protocols (``loadtests/wsclient.py``) on uvloop, frames are decoded
with orjson, samples go to ``array`` buffers, and there is no task per socket.
"""

from __future__ import annotations

import asyncio
import resource
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from loadtests.wsclient import WsClient, close_all, connect

OPEN_CONCURRENCY = 64  # handshakes in flight per process: stays under the listen backlog
OPEN_TIMEOUT_S = 30.0
OPEN_ATTEMPTS = 3
DRAIN_TIMEOUT_S = 20.0
POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class SeatPlan:
    """One socket to open: a member's token, their room, and whether they post."""

    room: str
    token: str
    # Senders post at ``phase`` (a fraction of the period) after each period starts,
    # so the senders of all processes spread evenly over time.
    phase: float | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    rate: float  # messages per second per sender
    send_start: float
    send_end: float
    t0: float  # measured window, absolute time.time() seconds
    t1: float
    body_chars: int
    # Prefix of the idempotency keys (txn): runs that reuse the same accounts
    # against one store need distinct prefixes, or the server answers a repeated
    # txn with the message it already stored instead of posting a new one.
    txn_prefix: str = "t"


@dataclass
class SocketTally:
    room: str
    head_at_subscribe: int
    last: int
    received: int
    duplicates: int
    gaps: int
    close_code: int | None


@dataclass
class WorkerResult:
    sockets: list[SocketTally] = field(default_factory=list)
    delivered_in_window: int = 0
    delivered_total: int = 0
    sent: int = 0
    acked: int = 0
    send_errors: dict[str, int] = field(default_factory=dict)
    other_events: dict[str, int] = field(default_factory=dict)
    latencies_ns: bytes = b""  # array('q'): receive - send, messages received in the window
    received_ns: bytes = b""  # array('q'): receive time - t0, same order as latencies_ns
    ack_ns: bytes = b""  # array('q'): reply - send, for sends made in the window
    send_lag_ns: bytes = b""  # array('q'): actual - scheduled send time, in the window
    timed_out: bool = False


class Stats:
    """Shared by the sockets of one process: what the coordinator gets back."""

    def __init__(self) -> None:
        self.t0_ns = 0
        self.t1_ns = 0
        self.window_delivered = 0
        self.total_delivered = 0
        self.latencies = array("q")
        self.received_at = array("q")
        self.ack_latencies = array("q")
        self.send_lags = array("q")
        self.sent = 0
        self.acked = 0
        self.room_max: dict[str, int] = {}
        self.errors: Counter[str] = Counter()
        self.other_events: Counter[str] = Counter()
        self.txn_prefix = "t"


class Member(WsClient):
    """A room member's socket: counts, checks and times what it receives."""

    def __init__(self, stats: Stats, room: str) -> None:
        super().__init__()
        self.stats = stats
        self.room = room
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.subscribed: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.head_at_subscribe = 0
        self.last = 0
        self.received = 0
        self.duplicates = 0
        self.gaps = 0
        self.pending: dict[int, int] = {}  # request id -> send time (ns)
        self.next_id = 0
        self.room_json = orjson.dumps(room).decode()

    def on_message(self, payload: bytes, binary: bool) -> None:
        now = time.time_ns()
        data = orjson.loads(payload)
        ev = data.get("ev")
        stats = self.stats
        if ev == "chat.message":
            seq = data["seq"]
            last = self.last
            if seq == last + 1:
                self.last = seq
            elif seq <= last:
                self.duplicates += 1
            else:
                self.gaps += seq - last - 1
                self.last = seq
            self.received += 1
            stats.total_delivered += 1
            if stats.t0_ns <= now < stats.t1_ns:
                stats.window_delivered += 1
                body: str = data["body"]
                stats.latencies.append(now - int(body[: body.index(" ")]))
                stats.received_at.append(now - stats.t0_ns)
        elif ev is None:
            self._on_reply(data, now)
        elif ev == "hello":
            if not self.hello.done():
                self.hello.set_result(data)
        else:
            stats.other_events[ev] += 1

    def _on_reply(self, data: dict[str, Any], now: int) -> None:
        rid = data.get("re")
        if rid == "sub":
            if not self.subscribed.done():
                self.subscribed.set_result(data)
            return
        if not isinstance(rid, int):
            return
        sent = self.pending.pop(rid, None)
        stats = self.stats
        if data.get("ok"):
            stats.acked += 1
            seq = data["seq"]
            if seq > stats.room_max.get(self.room, 0):
                stats.room_max[self.room] = seq
            if sent is not None and stats.t0_ns <= sent < stats.t1_ns:
                stats.ack_latencies.append(now - sent)
        else:
            stats.errors[str(data.get("error", {}).get("code", "unknown"))] += 1

    def send_chat(self, now_ns: int, filler: str) -> None:
        self.next_id += 1
        rid = self.next_id
        self.pending[rid] = now_ns
        # Built by hand: cheaper than a dict through orjson, and the body is plain ASCII.
        frame = (
            f'{{"id":{rid},"op":"chat.send","room":{self.room_json},'
            f'"txn":"{self.stats.txn_prefix}{rid}","body":"{now_ns} {filler}"}}'
        )
        self.send_text(frame.encode())
        self.stats.sent += 1

    def tally(self) -> SocketTally:
        return SocketTally(self.room, self.head_at_subscribe, self.last, self.received,
                           self.duplicates, self.gaps, self.close_code if self.closed.done()
                           else None)


class Worker:
    def __init__(self, pipe: Connection, host: str, port: int) -> None:
        self.pipe = pipe
        self.host = host
        self.port = port
        self.stats = Stats()
        self.members: list[Member] = []
        self.senders: list[tuple[float, Member]] = []

    async def _recv(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self.pipe.recv)

    async def serve(self) -> None:
        while True:
            command = await self._recv()
            kind = command[0]
            if kind == "open":
                self.pipe.send(await self.open(command[1]))
            elif kind == "run":
                self.pipe.send(await self.run(command[1]))
            elif kind == "heads":
                self.pipe.send(("result", await self.finish(command[1])))
            elif kind == "close":
                self.pipe.send(("closed", await self.close_all()))
                return
            else:
                raise ValueError(f"unknown command {kind!r}")

    # -- opening -------------------------------------------------------------
    async def open(self, seats: list[SeatPlan]) -> tuple[str, int, int, list[str]]:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        errors: list[str] = []

        async def one(seat: SeatPlan) -> bool:
            async with gate:
                for attempt in range(OPEN_ATTEMPTS):
                    try:
                        member = await self._open_one(seat)
                    except (OSError, TimeoutError, ConnectionError, RuntimeError) as exc:
                        if attempt == OPEN_ATTEMPTS - 1:
                            errors.append(f"{type(exc).__name__}: {exc}")
                            return False
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                    self.members.append(member)
                    if seat.phase is not None:
                        self.senders.append((seat.phase, member))
                    return True
            return False  # pragma: no cover - the loop always returns

        results = await asyncio.gather(*(one(seat) for seat in seats))
        ok = sum(results)
        return ("opened", ok, len(results) - ok, errors[:3])

    async def _open_one(self, seat: SeatPlan) -> Member:
        client = await connect(
            lambda: Member(self.stats, seat.room), self.host, self.port, "/ws",
            {"Authorization": f"Bearer {seat.token}"}, timeout=OPEN_TIMEOUT_S,
        )
        assert isinstance(client, Member)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await client.hello
                client.send_text(orjson.dumps(
                    {"id": "sub", "op": "room.subscribe", "room": seat.room}
                ))
                reply = await client.subscribed
        except BaseException:
            if client.transport is not None:
                client.transport.abort()
            raise
        if not reply.get("ok"):
            client.close()
            raise RuntimeError(f"subscribe refused: {reply.get('error')}")
        client.head_at_subscribe = client.last = int(reply["head"])
        return client

    # -- the measured run ----------------------------------------------------
    async def run(self, plan: RunPlan) -> tuple[str, dict[str, int], int, int]:
        stats = self.stats
        stats.t0_ns = int(plan.t0 * 1e9)
        stats.t1_ns = int(plan.t1 * 1e9)
        stats.txn_prefix = plan.txn_prefix
        await self._send_loop(plan)
        await self._sleep_until(plan.t1 + 0.01)
        # Wait for every reply (bounded): the acks give each room's final head.
        for _ in range(round(DRAIN_TIMEOUT_S / POLL_S)):
            if not any(m.pending for m in self.members):
                break
            await asyncio.sleep(POLL_S)
        return ("acks", dict(stats.room_max), stats.sent, stats.acked)

    @staticmethod
    async def _sleep_until(when: float) -> None:
        delay = when - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _send_loop(self, plan: RunPlan) -> None:
        if not self.senders:
            await self._sleep_until(plan.send_end)
            return
        period = 1.0 / plan.rate
        order = sorted(self.senders, key=lambda s: s[0])
        stats = self.stats
        lags = stats.send_lags
        filler_len = max(1, plan.body_chars - 20)
        filler = ("Bonjour la classe, " * (filler_len // 19 + 1))[:filler_len].strip() or "x"
        k = 0
        while True:
            for phase, member in order:
                target = plan.send_start + (k + phase) * period
                if target >= plan.send_end:
                    return
                delay = target - time.time()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                now_ns = time.time_ns()
                if stats.t0_ns <= now_ns < stats.t1_ns:
                    lags.append(now_ns - int(target * 1e9))
                member.send_chat(now_ns, filler)
            k += 1

    async def finish(self, heads: dict[str, int]) -> WorkerResult:
        timed_out = True
        for _ in range(round(DRAIN_TIMEOUT_S / POLL_S)):
            if all(m.last >= heads.get(m.room, 0) for m in self.members if not m.closed.done()):
                timed_out = False
                break
            await asyncio.sleep(POLL_S)
        stats = self.stats
        return WorkerResult(
            sockets=[m.tally() for m in self.members],
            delivered_in_window=stats.window_delivered,
            delivered_total=stats.total_delivered,
            sent=stats.sent,
            acked=stats.acked,
            send_errors=dict(stats.errors),
            other_events=dict(stats.other_events),
            latencies_ns=stats.latencies.tobytes(),
            received_ns=stats.received_at.tobytes(),
            ack_ns=stats.ack_latencies.tobytes(),
            send_lag_ns=stats.send_lags.tobytes(),
            timed_out=timed_out,
        )

    async def close_all(self) -> int:
        await close_all(self.members)
        return len(self.members)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def worker_main(pipe: Connection, host: str, port: int) -> None:
    """Entry point of a load process (``multiprocessing.Process`` target)."""
    raise_fd_limit()
    worker = Worker(pipe, host, port)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(worker.serve())
    else:
        uvloop.run(worker.serve())
