"""Mesh call signalling: many study groups joining at once on one node.

    PYTHONPATH=clients/python python -m loadtests.call_signalling --groups 30 --write-docs

What it does:

1. builds the synthetic school (``loadtests/school.py``) and starts
   ``preau serve`` on a free port of 127.0.0.1 (every limit per connection
   raised, so the server, not the token bucket, is measured);
2. **join phase**: ``--groups`` study groups of ``--group-size`` pupils (from
   the school's classes) are created, then every pupil of every group joins
   at once with an aiortc peer (a data channel: ICE and DTLS run, no codec
   CPU), the newcomer offering to those there. Each peer's *join-to-connected*
   time runs from sending ``call.join`` to every one of its peer connections
   being ``connected``;
3. **relay phase**: for ``--relay-s`` seconds, every peer sends
   ``end_of_candidates`` signals to each of its peers as fast as replies come
   back; the figure is messages relayed per second (sent, acknowledged and
   received by the addressed peer);
4. prints the figures; ``--write-docs`` rewrites the call section of
   docs/benchmarks.md.

Talks only to 127.0.0.1 (ICE confined there too) and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from preau_client import LiveConnection, PreauClient
from preau_client.call import CallPeer
from preau_client.peer import confine_ice

from loadtests.chat_fanout import HOST, run_server
from loadtests.report import replace_section
from loadtests.school import SchoolManifest, prepare_school

BEGIN = "<!-- call-signalling:begin -->"
END = "<!-- call-signalling:end -->"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
JOIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Scenario:
    groups: int = 30
    group_size: int = 3
    relay_s: float = 5.0


@dataclass
class Results:
    scenario: dict[str, Any]
    peers: int
    connected: int
    join_p50_ms: float
    join_p99_ms: float
    join_max_ms: float
    relayed: int
    relay_per_s: float
    lost: int


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def _measure(base_url: str, manifest: SchoolManifest, scenario: Scenario) -> Results:
    pupils = [seat for room in manifest.rooms for seat in room.members
              if seat.profile == "pupil"]
    per_class = {room.room: [s for s in room.members if s.profile == "pupil"]
                 for room in manifest.rooms}
    groups: list[tuple[str, list[Any]]] = []
    for room_id, members in per_class.items():
        for start in range(0, len(members) - scenario.group_size + 1, scenario.group_size):
            if len(groups) < scenario.groups:
                groups.append((room_id, members[start:start + scenario.group_size]))
    if len(groups) < scenario.groups:
        raise ValueError(f"the school has room for {len(groups)} groups only")
    del pupils
    clients: list[PreauClient] = []
    lives: list[LiveConnection] = []
    peers: list[CallPeer] = []
    try:
        plans = []
        for room_id, members in groups:
            group_lives = []
            for seat in members:
                client = PreauClient(base_url, seat.token, {"id": seat.person})
                clients.append(client)
                live = await client.connect()
                lives.append(live)
                group_lives.append(live)
            created = await group_lives[0].request(
                "call.create", room=room_id, people=[s.person for s in members])
            plans.append((created["call"], group_lives))

        async def join(peer: CallPeer, others: int) -> float:
            started = time.monotonic()
            await peer.join()
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                while True:  # polled: the peers are not all known when the join returns
                    if len([r for r in peer.peers.values() if r.connected.is_set()]) >= others:
                        break
                    await asyncio.sleep(0.01)
            return (time.monotonic() - started) * 1000

        joins = []
        for call_id, group_lives in plans:
            for live in group_lives:
                peer = CallPeer(live, call_id, data_channel=True)
                peers.append(peer)
                joins.append(join(peer, len(group_lives) - 1))
        # Everyone at once: the newcomer/offerer order inside a group follows
        # the server's commit order, as with real people clicking together.
        outcome = await asyncio.gather(*joins, return_exceptions=True)
        times = [t for t in outcome if isinstance(t, float)]

        received = 0
        for peer in peers:
            def tap(event: dict[str, Any], mine: CallPeer = peer) -> bool:
                nonlocal received
                if event.get("ev") == "call.signal" and event.get("kind") == "end_of_candidates":
                    received += 1
                    return True
                return False

            peer.live.taps.insert(0, tap)
        sent = 0
        stop = time.monotonic() + scenario.relay_s

        async def pump(peer: CallPeer) -> None:
            nonlocal sent
            targets = list(peer.peers)
            i = 0
            while time.monotonic() < stop and targets:
                await peer.request("call.signal", to=targets[i % len(targets)],
                                   kind="end_of_candidates")
                sent += 1
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(pump(p) for p in peers if p.peers))
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)  # the last relays in flight
        return Results(
            scenario=asdict(scenario), peers=len(peers), connected=len(times),
            join_p50_ms=percentile(times, 0.50), join_p99_ms=percentile(times, 0.99),
            join_max_ms=max(times) if times else math.nan,
            relayed=received, relay_per_s=received / elapsed if elapsed else math.nan,
            lost=sent - received,
        )
    finally:
        for peer in peers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.close(), 5)
        for live in lives:
            with contextlib.suppress(Exception):
                await live.close()
        for client in clients:
            await client.close()


def run(scenario: Scenario, keep: bool = False) -> Results:
    classes = max(1, math.ceil(scenario.groups * scenario.group_size / 27))
    tmp = Path(tempfile.mkdtemp(prefix="preau-calls-"))
    try:
        manifest = prepare_school(tmp / "data", classes)
        env = {"PREAU_CHARTER_REQUIRED": "false",  # not what this scenario measures
               "PREAU_OPS_PER_S": "100000", "PREAU_OPS_BURST": "100000",
               "PREAU_MAX_SOCKETS_PER_PERSON": "10", "PREAU_CALL_MESH_SIZE":
               str(max(4, scenario.group_size))}
        with run_server(tmp / "data", env, tmp / "server.log") as (_proc, port), \
                confine_ice([HOST]):
            return asyncio.run(_measure(f"http://{HOST}:{port}", manifest, scenario))
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def format_summary(r: Results) -> str:
    return "\n".join([
        f"groups of {r.scenario['group_size']}: {r.scenario['groups']}, peers: {r.peers}, "
        f"connected: {r.connected}",
        f"join-to-connected: p50 {r.join_p50_ms:.0f} ms, p99 {r.join_p99_ms:.0f} ms, "
        f"max {r.join_max_ms:.0f} ms",
        f"signalling relayed: {r.relay_per_s:.0f} messages/s ({r.relayed} in "
        f"{r.scenario['relay_s']} s, {r.lost} not received)",
    ])


def write_docs(r: Results, command: str) -> None:
    host = f"{platform.machine()}, {platform.python_version()}"
    body = "\n".join([
        BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on the 2-core, 24 GiB build machine "
        f"({host}), one node (SQLite, memory broker), load in one process:",
        f"`{command}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| peers (groups × size) | {r.peers} ({r.scenario['groups']} × "
        f"{r.scenario['group_size']}), {r.connected} connected |",
        f"| join-to-connected p50 / p99 / max | {r.join_p50_ms:.0f} / {r.join_p99_ms:.0f} / "
        f"{r.join_max_ms:.0f} ms |",
        f"| signalling relayed | {r.relay_per_s:.0f} messages/s ({r.lost} lost) |",
        "",
        "Join-to-connected includes the aiortc peers' own ICE and DTLS work, all",
        "in the one load process that shares the 2 cores with the server: it",
        "is an upper bound of what the server adds.",
        END,
    ])
    if BEGIN not in (DOCS.read_text() if DOCS.exists() else ""):  # first run: a heading too
        body = f"## Video call signalling (loadtests/call_signalling.py)\n\n{body}"
    replace_section(DOCS, BEGIN, END, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=Scenario.groups)
    parser.add_argument("--group-size", type=int, default=Scenario.group_size)
    parser.add_argument("--relay-s", type=float, default=Scenario.relay_s)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    scenario = Scenario(args.groups, args.group_size, args.relay_s)
    results = run(scenario, keep=args.keep)
    print(json.dumps(asdict(results)) if args.json else format_summary(results))
    if args.write_docs:
        command = (f"python -m loadtests.call_signalling --groups {args.groups} "
                   f"--group-size {args.group_size} --relay-s {args.relay_s:g} --write-docs")
        write_docs(results, command)
    return 0 if results.connected == results.peers else 1


if __name__ == "__main__":
    raise SystemExit(main())
