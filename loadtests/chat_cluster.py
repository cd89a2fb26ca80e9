"""Chat fan-out on one or two nodes sharing PostgreSQL and Redis, with a saturation ramp.

    python -m loadtests.chat_cluster --compare --ramp 12000,24000,36000,48000 \\
        --duration 10 --cpu-at 12000 --json cluster.json

What it does (loadtests/README.md, "Chat fan-out on two nodes"):

1. starts a private PostgreSQL (``tests/services.py``: ``DATABASE_URL`` if set)
   and a private ``redis-server``, creates a fresh database and imports the
   synthetic school into it with the server's own importer, sessions written
   straight into the store (``loadtests/school.py``);
2. for each configuration (``--nodes N``, or 1 then 2 with ``--compare``) and
   each step of the ramp: starts N ``preau serve`` processes on free loopback
   ports with ``PREAU_STORE_URL`` (the shared database) and
   ``PREAU_BROKER_URL=redis://…`` (the shared Redis); load process *i* talks
   to node *i mod N*, and each room's members are dealt round-robin over the
   load processes, so with two nodes half of every room is on each node and
   every message crosses Redis; senders post through a warm-up and a measured
   window; every socket is then checked for exactly-once, in-order delivery
   (as ``loadtests/chat_fanout.py`` does); last, each node's ``/api/health``
   broker counters are read;
3. a step is *saturated* when delivered < 97 % of offered, p99 > 100 ms or a
   delivery was lost; the ramp stops at the first step whose delivered rate
   fell below 97 % (a p99 alone can be a one-off stall). The configuration's
   capacity is the highest delivered rate of its ramp;
4. prints per step: delivered/s, latency, CPU per delivery (nodes, Redis,
   PostgreSQL), and per node: messages received from Redis, own echoes,
   ``unrouted`` (received for a channel with no local subscriber) and its share.

Every wait is bounded; the servers, Redis, PostgreSQL and the temporary
directory are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import multiprocessing
import shlex
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from loadtests.chat_fanout import (
    HOST,
    LoadProcesses,
    _cpu_s,
    _deal,
    _exit_on_signal,
    _fanout_figures,
    _log_problems,
    _machine_busy,
    _opened,
    _sleep_until,
    run_server,
    server_revision,
)
from loadtests.fanout_results import (
    DEFAULT_SENDS_PER_S,
    FanoutFigures,
    ProductionFigures,
    Scenario,
    server_env,
)
from loadtests.loadgen import RunPlan, SeatPlan, WorkerResult, raise_fd_limit, worker_main
from loadtests.school import MEMBERS_PER_ROOM, SchoolManifest, prepare_school

DELIVERED_FLOOR = 0.97  # below this share of the offered rate, a step is saturated
P99_CEILING_MS = 100.0
DEFAULT_RAMP = (12_000, 24_000, 36_000, 48_000)


@dataclass
class NodeBroker:
    """One node's /api/health broker counters, read after the step."""

    node: str
    received: int
    echoes: int
    unrouted: int
    dropped: int
    publish_dropped: int
    reconnections: int
    channels: int

    @property
    def unrouted_share(self) -> float:
        return self.unrouted / self.received if self.received else 0.0


@dataclass
class Step:
    nodes: int
    offered_per_s: float
    fanout: FanoutFigures
    node_cpu_s: list[float]  # per node, over the window
    redis_cpu_s: float
    postgres_cpu_s: float
    brokers: list[NodeBroker]
    saturated: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return round(self.fanout.delivered_per_s * self.fanout.window_s)

    def us_per_delivery(self, cpu_s: float) -> float:
        return cpu_s / self.delivered * 1e6 if self.delivered else math.nan

    @property
    def throughput_saturated(self) -> bool:
        f = self.fanout
        return f.delivered_per_s < DELIVERED_FLOOR * self.offered_per_s or not f.exactly_once

    @property
    def foreign_cores(self) -> float:
        """CPU used by the rest of the machine (not nodes, Redis, PostgreSQL, load), in cores."""
        own = (self.redis_cpu_s + self.postgres_cpu_s) / self.fanout.window_s
        return max(0.0, self.fanout.other_cpu_cores - own)

    @property
    def total_cpu_s(self) -> float:
        return sum(self.node_cpu_s) + self.redis_cpu_s + self.postgres_cpu_s


@dataclass
class ClusterResults:
    command: str
    started_utc: str
    server_revision: str
    scenario: Scenario
    steps: list[Step]

    def capacity(self, nodes: int) -> float:
        rates = [s.fanout.delivered_per_s for s in self.steps if s.nodes == nodes]
        return max(rates) if rates else math.nan

    def to_json(self) -> str:
        def step(s: Step) -> dict[str, Any]:
            return {**asdict(s), "total_cpu_s": s.total_cpu_s,
                    "us_per_delivery_total": s.us_per_delivery(s.total_cpu_s),
                    "us_per_delivery_nodes": s.us_per_delivery(sum(s.node_cpu_s)),
                    "foreign_cores": s.foreign_cores,
                    "unrouted_share": [b.unrouted_share for b in s.brokers]}
        return json.dumps({"command": self.command, "started_utc": self.started_utc,
                           "server_revision": self.server_revision,
                           "scenario": asdict(self.scenario),
                           "steps": [step(s) for s in self.steps],
                           "capacity": {n: self.capacity(n) for n in (1, 2)}},
                          indent=1, ensure_ascii=False)


# -- shared services -------------------------------------------------------------------


class _Services:
    """The private PostgreSQL database and Redis, with their processes for CPU readings."""

    def __init__(self, store_url: str, broker_url: str, redis_pid: int | None,
                 postgres_port: int | None) -> None:
        self.store_url = store_url
        self.broker_url = broker_url
        self.redis = psutil.Process(redis_pid) if redis_pid else None
        self.postmaster = postmaster_of(postgres_port) if postgres_port else None

    def postgres_procs(self) -> list[psutil.Process]:
        if self.postmaster is None:
            return []
        try:
            return [self.postmaster, *self.postmaster.children(recursive=True)]
        except psutil.Error:
            return []


def postmaster_of(port: int) -> psutil.Process | None:
    """The private PostgreSQL's main process: the one started with ``-p <port>``."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if cmd and "postgres" in Path(cmd[0]).name and f"-p {port}" in " ".join(cmd):
            return proc
    return None


def cpu_with_reaped(procs: Sequence[psutil.Process]) -> dict[int, float]:
    """CPU seconds by pid, each with its reaped children's: a backend or an
    autovacuum worker that exits within the window is counted in its
    postmaster's children times (/proc/PID/stat cutime, cstime), where it
    would otherwise be missed."""
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = float(t.user + t.system + t.children_user + t.children_system)
    return out


@contextlib.contextmanager
def shared_services(workdir: Path, classes: int) -> Iterator[tuple[_Services, SchoolManifest]]:
    """Private PostgreSQL (fresh database, school imported) and private Redis."""
    from urllib.parse import urlsplit

    from tests.services import fresh_database, postgres_url, private_redis

    with postgres_url() as server_url, private_redis() as redis:
        # fresh_database is an async context manager: hold it open in one
        # event loop on a thread of its own while this (synchronous) run lasts.
        store_url, release = hold_database(fresh_database(server_url))
        try:
            manifest = prepare_school(workdir / "data", classes, store_url=store_url)
            pid = redis._process.pid if redis._process is not None else None
            yield _Services(store_url, redis.url, pid, urlsplit(server_url).port), manifest
        finally:
            release()


def hold_database(cm: Any) -> tuple[str, Any]:
    """Enter ``cm`` in a background event loop; return its value and a function
    that exits it (drops the database) and stops the loop."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fresh-database", daemon=True)
    thread.start()
    url: str = asyncio.run_coroutine_threadsafe(cm.__aenter__(), loop).result(60)

    def release() -> None:
        try:
            asyncio.run_coroutine_threadsafe(cm.__aexit__(None, None, None), loop).result(60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    return url, release


# -- one step ----------------------------------------------------------------------------


class NodeLoad(LoadProcesses):
    """Load process *i* talks to ``ports[i % len(ports)]``."""

    def __init__(self, n: int, ports: Sequence[int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for i in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, HOST, ports[i % len(ports)]),
                               name=f"preau-load-{i}", daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.ps = [psutil.Process(p.pid) for p in self.procs if p.pid is not None]


def _health_broker(port: int, node: str) -> NodeBroker:
    with urllib.request.urlopen(f"http://{HOST}:{port}/api/health", timeout=10) as r:
        broker = json.load(r)["broker"]
    return NodeBroker(node, *(int(broker.get(k, 0)) for k in (
        "received", "echoes", "unrouted", "dropped", "publish_dropped", "reconnections",
        "channels")))


def run_step(scenario: Scenario, nodes: int, services: _Services, manifest: SchoolManifest,
             data_dir: Path, workdir: Path) -> Step:
    rooms = manifest.rooms[: scenario.rooms]
    senders_total = len(rooms) * scenario.senders_per_room
    seats = []
    for r, room in enumerate(rooms):
        for i, member in enumerate(room.members):
            phase = None
            if i < scenario.senders_per_room:
                phase = (i * len(rooms) + r) / senders_total
            seats.append(SeatPlan(room.room, member.token, phase))
    # The per-account send limit is raised above the senders' rate (at exactly
    # the rate, jitter gets a few sends refused), as chat_fanout does above it.
    common = {"PREAU_SENDS_PER_S": f"{max(DEFAULT_SENDS_PER_S, scenario.rate * 1.5):g}",
              **server_env(scenario), "PREAU_STORE_URL": services.store_url,
              "PREAU_BROKER_URL": services.broker_url}
    tag = f"{nodes}n-{scenario.offered_per_s:.0f}"
    logs = [workdir / f"node{i}-{tag}.log" for i in range(nodes)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(run_server(
            data_dir, {**common, "PREAU_NODE_ID": f"bench-{i}"}, logs[i]))
            for i in range(nodes)]
        ports = [port for _, port in servers]
        load = stack.enter_context(NodeLoad(scenario.load_procs, ports))
        ok, failed, errors = _opened(load.ask(
            [("open", hand) for hand in _deal(seats, scenario.load_procs)]))
        if ok == 0:
            raise RuntimeError(f"no socket could open: {errors}")
        start = time.time() + 1.0
        t0 = start + scenario.warmup
        t1 = t0 + scenario.duration
        # The accounts and the database are shared by every step: fresh txn keys.
        plan = RunPlan(scenario.rate, start, t1, t0, t1, scenario.body_chars,
                       txn_prefix=f"{tag}-{time.time_ns()}-")
        for pipe in load.pipes:
            pipe.send(("run", plan))
        _sleep_until(t0)
        pg_procs = services.postgres_procs()
        node0 = [_cpu_s(p) for p, _ in servers]
        redis0 = cpu_with_reaped([services.redis] if services.redis else [])
        pg0 = cpu_with_reaped(pg_procs)
        busy0, at0 = _machine_busy(), time.time()
        load0 = [_cpu_s(p) for p in load.ps]
        _sleep_until(t1)
        node1 = [_cpu_s(p) for p, _ in servers]
        redis1 = cpu_with_reaped([services.redis] if services.redis else [])
        pg1 = cpu_with_reaped(services.postgres_procs())
        busy1, at1 = _machine_busy(), time.time()
        load1 = [_cpu_s(p) for p in load.ps]
        window = at1 - at0
        rss_kib = sum(p.memory_info().rss for p, _ in servers) // 1024
        acks = load.collect(60)
        heads: dict[str, int] = {}
        for answer in acks:
            for room_id, seq in answer[1].items():
                heads[room_id] = max(heads.get(room_id, 0), seq)
        results: list[WorkerResult] = [
            a[1] for a in load.ask([("heads", heads)] * scenario.load_procs)]
        brokers = [_health_broker(port, f"bench-{i}") for i, port in enumerate(ports)]
    node_cpu = [b - a for a, b in zip(node0, node1, strict=True)]
    problems = [p for log in logs for p in _log_problems(log)]
    fanout = _fanout_figures(
        scenario, at0, results, heads, window, sum(node_cpu), busy0, busy1,
        [b - a for a, b in zip(load0, load1, strict=True)], rss_kib, ok, failed,
        problems, errors)
    redis_cpu = sum(v - redis0.get(pid, 0.0) for pid, v in redis1.items())
    pg_cpu = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
    step = Step(nodes, scenario.offered_per_s, fanout, node_cpu, redis_cpu, pg_cpu, brokers)
    if fanout.delivered_per_s < DELIVERED_FLOOR * scenario.offered_per_s:
        step.reasons.append(f"delivered < {DELIVERED_FLOOR:.0%} of offered")
    if not fanout.latency_ms["p99"] <= P99_CEILING_MS:
        step.reasons.append(f"p99 > {P99_CEILING_MS:.0f} ms")
    if not fanout.exactly_once:
        step.reasons.append("not exactly once")
    step.saturated = bool(step.reasons)
    return step


def ramp(scenario: Scenario, nodes: int, offered: Sequence[float], services: _Services,
         manifest: SchoolManifest, data_dir: Path, workdir: Path,
         log: Any = print) -> list[Step]:
    """Run each offered rate (deliveries/s) in turn; stop after the first one
    whose delivered rate fell below the floor (or that lost a delivery)."""
    per_sender = scenario.rooms * scenario.senders_per_room * MEMBERS_PER_ROOM
    steps = []
    for target in offered:
        s = dataclasses.replace(scenario, rate=target / per_sender)
        step = run_step(s, nodes, services, manifest, data_dir, workdir)
        log(format_step(step))
        steps.append(step)
        # A latency-only saturation can be a one-off stall (a collection, a
        # checkpoint, a neighbour): the ramp goes on until the throughput drops.
        if step.throughput_saturated:
            break
    return steps


def production_phase(scenario: Scenario, workdir: Path) -> ProductionFigures:
    """The chat scenario on one node in the production configuration
    (PostgreSQL store, Redis broker), for ``chat_fanout --production``: the
    server's CPU, and PostgreSQL's and Redis's, over the same window."""
    workdir.mkdir(parents=True, exist_ok=True)
    with shared_services(workdir, scenario.rooms) as (services, manifest):
        step = run_step(scenario, 1, services, manifest, workdir / "data", workdir)
        processes = len(services.postgres_procs())
    return ProductionFigures(step.fanout, step.redis_cpu_s, step.postgres_cpu_s, processes)


# -- output ---------------------------------------------------------------------------------


def format_step(s: Step) -> str:
    f = s.fanout
    lat = f.latency_ms
    lines = [
        f"{s.nodes} node(s), offered {s.offered_per_s:,.0f}/s: delivered {f.delivered_per_s:,.0f}/s"
        f", p50 {lat['p50']:.1f} p99 {lat['p99']:.1f} max {lat['max']:.1f} ms"
        + (f"  SATURATED ({'; '.join(s.reasons)})" if s.saturated else ""),
        f"  CPU µs/delivery: nodes {s.us_per_delivery(sum(s.node_cpu_s)):.1f} "
        f"(per node {', '.join(f'{c / f.window_s:.0%}' for c in s.node_cpu_s)} of a core), "
        f"redis {s.us_per_delivery(s.redis_cpu_s):.1f}, postgres "
        f"{s.us_per_delivery(s.postgres_cpu_s):.1f}, total {s.us_per_delivery(s.total_cpu_s):.1f}"
        f"; load gen {f.loadgen_us_per_delivery:.1f} "
        f"({', '.join(f'{x:.0%}' for x in f.loadgen_cpu_share)})",
        f"  machine busy {f.machine_busy_share:.0%} (processes outside the benchmark: "
        f"{s.foreign_cores:.2f} cores); "
        f"exactly once {'yes' if f.exactly_once else 'NO'}: {f.messages_committed} messages, "
        f"{f.delivered_total}/{f.expected_deliveries} deliveries, {f.duplicates} dup, "
        f"{f.missing} missing, send errors {f.send_errors or 'none'}",
    ]
    lines.append("  per second p99/max ms " + " ".join(
        f"{a:.0f}/{b:.0f}" for a, b in f.latency_by_second_ms))
    for b in s.brokers:
        lines.append(
            f"  {b.node}: from Redis {b.received}, own echoes {b.echoes}, unrouted {b.unrouted} "
            f"({b.unrouted_share:.2%}), dropped {b.dropped}, publish_dropped "
            f"{b.publish_dropped}, reconnections {b.reconnections}, channels {b.channels}")
    lines += [f"  log: {p}" for p in f.server_log_problems[:5]]
    return "\n".join(lines)


def format_summary(results: ClusterResults) -> str:
    lines = []
    for n in sorted({s.nodes for s in results.steps}):
        mine = [s for s in results.steps if s.nodes == n]
        ok = [s.offered_per_s for s in mine if not s.saturated]
        lines.append(f"{n} node(s): capacity {results.capacity(n):,.0f} delivered/s; "
                     f"highest unsaturated step {max(ok):,.0f}/s" if ok else
                     f"{n} node(s): capacity {results.capacity(n):,.0f} delivered/s; "
                     "every step saturated")
    one, two = results.capacity(1), results.capacity(2)
    if math.isfinite(one) and math.isfinite(two) and one:
        lines.append(f"two-node / one-node delivered throughput at saturation: {two / one:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.chat_cluster",
        description="Chat fan-out on N nodes sharing PostgreSQL and Redis "
                    "(see loadtests/README.md).")
    d = Scenario(duration=10.0, warmup=3.0, connections_test=0)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=2)
    parser.add_argument("--compare", action="store_true",
                        help="ramp 1 node, then 2 nodes, and report the ratio")
    parser.add_argument("--ramp", default=",".join(str(r) for r in DEFAULT_RAMP),
                        help="offered deliveries/s per step, comma-separated")
    parser.add_argument("--rooms", type=int, default=d.rooms)
    parser.add_argument("--senders-per-room", type=int, default=d.senders_per_room)
    parser.add_argument("--duration", type=float, default=d.duration,
                        help="measured window per step, seconds (at most 20)")
    parser.add_argument("--warmup", type=float, default=d.warmup)
    parser.add_argument("--load-procs", type=int, default=d.load_procs)
    parser.add_argument("--body-chars", type=int, default=d.body_chars)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    offered = [float(x) for x in args.ramp.split(",") if x.strip()]
    if not offered or min(offered) <= 0:
        parser.error("--ramp takes positive deliveries/s")
    if not 0 < args.duration <= 20:
        parser.error("--duration is at most 20 s")
    configs = [1, 2] if args.compare else [args.nodes]
    if any(args.load_procs % n for n in configs):
        parser.error("--load-procs must be a multiple of --nodes")
    scenario = Scenario(rooms=args.rooms, senders_per_room=args.senders_per_room,
                        duration=args.duration, warmup=args.warmup,
                        load_procs=args.load_procs, connections_test=0,
                        body_chars=args.body_chars)
    try:
        scenario.validate()
    except ValueError as exc:
        parser.error(str(exc))
    command = shlex.join(["python", "-m", "loadtests.chat_cluster",
                          *(sys.argv[1:] if argv is None else argv)])
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    results = run(scenario, configs, offered, command, keep=args.keep)
    print(format_summary(results))
    if args.json:
        args.json.write_text(results.to_json())
    return 0 if all(s.fanout.exactly_once for s in results.steps) else 1


def run(scenario: Scenario, configs: Sequence[int], offered: Sequence[float],
        command: str = "", keep: bool = False, log: Any = print) -> ClusterResults:
    raise_fd_limit()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    workdir = Path(tempfile.mkdtemp(prefix="preau-cluster-"))
    steps: list[Step] = []
    try:
        with shared_services(workdir, scenario.rooms) as (services, manifest):
            for nodes in configs:
                steps += ramp(scenario, nodes, offered, services, manifest,
                              workdir / "data", workdir, log)
    finally:
        if keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ClusterResults(command, started, server_revision(), scenario, steps)


if __name__ == "__main__":
    raise SystemExit(main())
