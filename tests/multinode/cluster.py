"""Several real Préau nodes sharing one PostgreSQL database and one Redis.

Each node is a ``preau serve`` process (:class:`~tests.server.live.LiveServer`)
on its own loopback port, with its own data directory and node id, all on the
same ``PREAU_STORE_URL`` (a fresh database on the tests' private PostgreSQL)
and ``PREAU_BROKER_URL`` (the tests' private redis-server). Node 0 alone seeds
the demo school, and starts first; the others start with
``PREAU_SEED_DEMO=false`` and learn the demo accounts from node 0.

Besides the nodes, this module holds the clients the multi-node tests use:

- :class:`Follower` reads a room the way a well-behaved app does: on any
  disconnect it reconnects (to the same node, else the next one) and resumes
  with ``since`` = the last sequence number it saw, and it records every
  ``chat.message`` it is shown, so a test can check "every acknowledged
  message, exactly once, in order";
- :class:`Sender` posts messages and retries a refused or unanswered send with
  the same ``txn`` (sends are idempotent), recording what was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import websockets
from preau_client import LiveConnection, PreauClient, PreauError

from tests.server.live import PASSWORD, LiveServer


class Node(LiveServer):
    """One ``preau serve`` process of a cluster; its port survives a restart."""

    def __init__(self, index: int, data_dir: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir, env)
        self.index = index
        self.node_id = env["PREAU_NODE_ID"]

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.node_id} is not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when a machine dies."""
        assert self.process is not None, f"{self.node_id} is not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def restart(self, timeout: float = 30.0) -> None:
        """Start again (same port, data directory and node id) without blocking the loop."""
        if self.running:
            await asyncio.to_thread(self.stop)
        accounts = self.accounts
        await asyncio.to_thread(self.start, timeout)
        self.accounts = accounts  # a node that does not seed has no accounts file

    def rss_bytes(self) -> int:
        """Resident memory of the node's process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    async def health_status(self) -> tuple[int, dict[str, Any]]:
        """``GET /api/health``: (HTTP status, body); (0, {}) if the node does not answer."""
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                response = await http.get(self.base_url + "/api/health")
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Cluster:
    def __init__(
        self,
        base_dir: Path,
        store_url: str,
        broker_url: str,
        size: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        assert size >= 2
        self.store_url = store_url
        self.broker_url = broker_url
        run = secrets.token_hex(3)
        self.nodes = [
            Node(i, base_dir / f"node{i}", {
                "PREAU_STORE_URL": store_url,
                "PREAU_BROKER_URL": broker_url,
                "PREAU_NODE_ID": f"node{i}-{run}",
                "PREAU_SEED_DEMO": "true" if i == 0 else "false",
                "PREAU_QUIET_HOURS_DEFAULT": "off",  # tests run at any hour
                **(env or {}),
            })
            for i in range(size)
        ]
        self._activated: set[str] = set()

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def start(self) -> Cluster:
        # The seeding node first: it migrates the database and creates the
        # school; the others then start side by side on a ready database.
        self.nodes[0].start()
        accounts = self.nodes[0].accounts
        if not accounts:
            raise RuntimeError("node 0 wrote no demo accounts:\n" + self.nodes[0].log_tail())
        with ThreadPoolExecutor(len(self.nodes) - 1) as pool:
            list(pool.map(lambda node: node.start(), self.nodes[1:]))
        for node in self.nodes[1:]:
            node.accounts = accounts
        return self

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def logs(self, lines: int = 40) -> str:
        """The end of every node's log, for assertion messages."""
        return "\n".join(
            f"--- {node.node_id} (port {node.port}) ---\n{node.log_tail(lines)}"
            for node in self.nodes
        )

    async def client(self, name: str, node: int = 0) -> PreauClient:
        """A new session of demo person ``name``, logged in through ``node``.

        The first use of an account activates it (once for the whole cluster:
        the accounts live in the shared database).
        """
        login = self.nodes[0].login_of(name)
        base_url = self.nodes[node].base_url
        if login in self._activated:
            return await PreauClient.login(base_url, login, PASSWORD)
        client = await PreauClient.activate(
            base_url, login, self.nodes[0].accounts[login].code, PASSWORD
        )
        self._activated.add(login)
        return client

    def on(self, client: PreauClient, node: int) -> PreauClient:
        """The same session (same bearer token) talking to another node."""
        return PreauClient(self.nodes[node].base_url, client.token, client.person)


@contextlib.contextmanager
def running_cluster(
    base_dir: Path, store_url: str, broker_url: str, size: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    cluster = Cluster(base_dir, store_url, broker_url, size, env)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# -- waiting ------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float, interval: float = 0.05
) -> float:
    """Poll ``predicate`` until true; its elapsed time, or TimeoutError after ``timeout``."""
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return time.monotonic() - start
            await asyncio.sleep(interval)


async def class_room(client: PreauClient, name: str = "6eA") -> str:
    rooms = (await client.me())["rooms"]
    return str(next(r["id"] for r in rooms if r["name"] == name))


async def room_head(client: PreauClient, room: str) -> int:
    rooms = (await client.me())["rooms"]
    return int(next(r["head"] for r in rooms if r["id"] == room))


# -- clients ------------------------------------------------------------------

_CONNECT_ERRORS = (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed,
                   TimeoutError, ConnectionError, PreauError)


class Follower:
    """Reads one room through one of ``nodes``, resuming after every disconnect.

    It records what the person would be shown: every ``chat.message`` of the
    room, in arrival order (``seqs``), any that repeats one already shown
    (``duplicates``) or skips one (``gaps``), each connection's node and close
    code (``visits``), and each failed connection attempt (``failures``).
    """

    def __init__(self, cluster: Cluster, client: PreauClient, room: str, nodes: list[int]) -> None:
        self.cluster = cluster
        self.room = room
        self.nodes = nodes
        self._clients = {i: cluster.on(client, i) for i in nodes}
        self.seqs: list[int] = []
        self.duplicates: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self.visits: list[dict[str, Any]] = []
        self.failures: list[tuple[int, str]] = []
        self.last = 0
        self.conn: LiveConnection | None = None
        self.node: int | None = None
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, since: int | None = None, timeout: float = 10) -> Follower:
        """Connect and subscribe (from ``since``, else from the head); return once subscribed."""
        self._task = asyncio.get_running_loop().create_task(self._run(since))
        waiter = asyncio.ensure_future(self._subscribed.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            await self.stop()
            raise AssertionError(f"follower could not subscribe: {self.failures}")
        return self

    async def _run(self, since: int | None) -> None:
        position = 0
        first = True
        while True:
            node = self.nodes[position % len(self.nodes)]
            try:
                async with asyncio.timeout(5):
                    conn = await self._clients[node].connect()
            except _CONNECT_ERRORS as exc:
                self.failures.append((node, repr(exc)))
                position += 1  # that node is gone: try the next one
                await asyncio.sleep(0.05)
                continue
            self.conn, self.node = conn, node
            visit: dict[str, Any] = {"node": node, "since": since if first else self.last}
            try:
                reply = await conn.subscribe(self.room, since=visit["since"])
            except _CONNECT_ERRORS as exc:
                self.failures.append((node, f"subscribe: {exc!r}"))
                await close_quietly(conn)
                position += 1
                await asyncio.sleep(0.05)
                continue
            if first:
                self.last = reply["head"] if since is None else since
                first = False
            visit["head"] = reply["head"]
            visit["truncated"] = reply["truncated"]
            self.visits.append(visit)
            self._subscribed.set()
            await self._read(conn)
            visit["close_code"] = conn.close_code
            # Reconnect: the same node first (a cut), the next one if it is gone.
            await asyncio.sleep(0.05)

    async def _read(self, conn: LiveConnection) -> None:
        while True:
            if conn.events.empty():
                if conn.closed.is_set():
                    return
                # Not asyncio.wait_for: on 3.11 it can swallow the cancellation
                # that stop() sends, when the queue yields at the same moment.
                try:
                    async with asyncio.timeout(0.1):
                        event = await conn.events.get()
                except TimeoutError:
                    continue
            else:
                event = conn.events.get_nowait()
            if event.get("ev") == "chat.message" and event.get("room") == self.room:
                self._record(int(event["seq"]))

    def _record(self, seq: int) -> None:
        if seq <= self.last:
            self.duplicates.append(seq)
        elif seq != self.last + 1:
            self.gaps.append((self.last, seq))
        self.seqs.append(seq)
        self.last = max(self.last, seq)

    async def caught_up(self, seq: int, timeout: float) -> float:
        """Wait until message ``seq`` was shown; the seconds it took."""
        try:
            return await wait_until(lambda: self.last >= seq, timeout)
        except TimeoutError:
            raise AssertionError(
                f"follower not caught up with {seq} after {timeout} s: last {self.last}, "
                f"visits {self.visits}, failures {self.failures[-5:]}\n{self.cluster.logs()}"
            ) from None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=5)
            assert done, "the follower's task ignored its cancellation"
            if not self._task.cancelled() and self._task.exception() is not None:
                raise self._task.exception()  # type: ignore[misc]
        if self.conn is not None:
            await close_quietly(self.conn)
        for client in self._clients.values():
            await client.close()


async def close_quietly(conn: LiveConnection) -> None:
    try:
        async with asyncio.timeout(5):
            await conn.close()
    except Exception:
        conn.ws.transport.abort()


class Sender:
    """Posts to a room through one connection; a send that is refused
    (``unavailable``) or unanswered is retried with the same ``txn`` until
    ``give_up_s`` has passed, as a careful client does."""

    def __init__(self, conn: LiveConnection, room: str, give_up_s: float = 10) -> None:
        self.conn = conn
        self.room = room
        self.give_up_s = give_up_s
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.latencies: list[float] = []

    async def send(self, body: str) -> int:
        txn = secrets.token_hex(8)
        deadline = time.monotonic() + self.give_up_s
        while True:
            start = time.monotonic()
            try:
                reply = await self.conn.send_message(self.room, body, txn=txn)
            except (PreauError, TimeoutError) as exc:
                self.errors.append(getattr(exc, "code", None) or repr(exc))
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
            self.latencies.append(time.monotonic() - start)
            seq = int(reply["seq"])
            self.acked.append(seq)
            return seq

    async def send_many(self, count: int, prefix: str, pause: float = 0.0,
                        size: int = 0) -> list[int]:
        seqs = []
        for i in range(count):
            seqs.append(await self.send(f"{prefix} {i:04d} " + "x" * size))
            if pause:
                await asyncio.sleep(pause)
        return seqs


def cut_from_redis(redis_url: str, node_id: str) -> int:
    """Close a node's connections to Redis (as a network fault would); how many."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        ids = [c["id"] for c in client.client_list()
               if c.get("name", "").endswith(f"-{node_id}") and c["name"].startswith("preau-")]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()
