"""The chat fan-out benchmark's scenario and figures, shared by the runner
(``chat_fanout.py``, ``chat_cluster.py``) and the report that writes them into
docs/benchmarks.md (``report.py``), which therefore need not import each other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from loadtests.school import MEMBERS_PER_ROOM

DEFAULT_SENDS_PER_S = 2.0  # server default (preau/server/settings.py): raised only above it
DEFAULT_OPS_PER_S = 20.0
SERVERS = ("preau", "bare")


# -- scenario and results -----------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    rooms: int = 20
    senders_per_room: int = 20
    rate: float = 1.0  # messages per second per sender
    duration: float = 20.0  # measured window, seconds
    warmup: float = 5.0
    load_procs: int = 2
    connections_test: int = 5000  # 0: no memory phase
    body_chars: int = 60
    profile_s: float = 0.0  # py-spy the server this long, after the measured window
    server_env: tuple[tuple[str, str], ...] = ()
    # "preau", or "bare": the websockets broadcast baseline (loadtests/bare_server.py)
    server: str = "preau"

    @property
    def offered_per_s(self) -> float:
        return self.rooms * self.senders_per_room * self.rate * MEMBERS_PER_ROOM

    def validate(self) -> None:
        if self.rooms < 1 or self.load_procs < 1:
            raise ValueError("--rooms and --load-procs are at least 1")
        if not 0 <= self.senders_per_room <= MEMBERS_PER_ROOM:
            raise ValueError(f"--senders-per-room is 0..{MEMBERS_PER_ROOM}")
        if self.rate <= 0 or self.duration <= 0 or self.warmup < 0:
            raise ValueError("--rate and --duration are positive, --warmup not negative")
        if self.connections_test < 0 or self.body_chars < 21:
            raise ValueError("--connections-test >= 0, --body-chars >= 21")
        if self.server not in SERVERS:
            raise ValueError(f"--server is one of {', '.join(SERVERS)}")


@dataclass
class FanoutFigures:
    window_start: float  # time.time() at the start of the measured window
    window_s: float
    offered_per_s: float
    delivered_per_s: float
    latency_ms: dict[str, float]  # p50, p99, p999, max (end to end)
    # Per second of the window: [p99, max] in ms, to tell steady tails from stalls.
    latency_by_second_ms: list[list[float]]
    ack_ms: dict[str, float]  # p50, p99: the sender's chat.send round trip
    send_lag_ms: dict[str, float]  # p99, max: how late the generator sent
    server_cpu_s: float
    server_cpu_share: float  # of one core, over the window
    server_us_per_delivery: float
    server_rss_kib: int
    machine_busy_share: float  # of all cores, over the window
    other_cpu_cores: float  # CPU used by everything else on the machine, in cores
    loadgen_cpu_share: list[float]  # per load process, of one core
    loadgen_us_per_delivery: float
    loadgen_saturated: bool
    connections: int
    connections_failed: int
    messages_sent: int
    messages_acked: int
    send_errors: dict[str, int]
    messages_committed: int
    expected_deliveries: int
    delivered_total: int
    duplicates: int
    missing: int
    sockets_closed: int
    drain_timed_out: bool
    server_log_problems: list[str] = field(default_factory=list)

    @property
    def exactly_once(self) -> bool:
        return (self.duplicates == 0 and self.missing == 0 and self.connections_failed == 0
                and self.messages_committed > 0 and self.sockets_closed == 0
                and self.delivered_total == self.expected_deliveries)


@dataclass
class MemoryFigures:
    requested: int
    opened: int
    failed: int
    baseline_connections: int
    rss_before_kib: int
    rss_after_kib: int
    kib_per_connection: float
    server_cpu_us_per_open: float  # handshake + auth + subscribe, server CPU per socket
    open_s: float
    first_errors: list[str] = field(default_factory=list)
    server_log_problems: list[str] = field(default_factory=list)


@dataclass
class ProfileRow:
    function: str
    self_share: float
    total_share: float


@dataclass
class ProductionFigures:
    """Préau on PostgreSQL + Redis (one node), run under the same load in the
    same sitting (``--production``): the CPU of PostgreSQL (postmaster and
    every backend) and of ``redis-server`` are read from /proc as the
    server's is."""

    fanout: FanoutFigures  # the server process alone, as for the embedded run
    redis_cpu_s: float
    postgres_cpu_s: float
    postgres_processes: int = 0  # postmaster and backends read at the end of the window

    def _per_delivery(self, cpu_s: float) -> float:
        delivered = self.fanout.delivered_per_s * self.fanout.window_s
        return cpu_s / delivered * 1e6 if delivered else float("nan")

    @property
    def redis_us_per_delivery(self) -> float:
        return self._per_delivery(self.redis_cpu_s)

    @property
    def postgres_us_per_delivery(self) -> float:
        return self._per_delivery(self.postgres_cpu_s)

    @property
    def total_us_per_delivery(self) -> float:
        """Server + PostgreSQL + Redis, per delivery. The server's share is taken
        as measured: recomputing it from the rounded window could make the total
        a hair smaller than the server alone."""
        return (self.fanout.server_us_per_delivery
                + self._per_delivery(self.redis_cpu_s + self.postgres_cpu_s))


@dataclass
class Results:
    scenario: Scenario
    command: str
    started_utc: str
    fanout: FanoutFigures
    memory: MemoryFigures | None
    profile: list[ProfileRow] = field(default_factory=list)
    profile_samples: int = 0
    profile_note: str = ""
    server_revision: str = ""  # git commit of the server code measured
    # The bare websockets baseline under the same load, run just before (--baseline).
    baseline: FanoutFigures | None = None
    baseline_memory: MemoryFigures | None = None
    # Préau on PostgreSQL + Redis under the same load, run just after (--production).
    production: ProductionFigures | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)


def server_env(scenario: Scenario) -> dict[str, str]:
    """Only the limits this scenario needs raised, plus what the user passed."""
    # The load school's people have not accepted the charter of use; its gate
    # (one look-up per op once accepted) is not what these scenarios measure.
    env: dict[str, str] = {"PREAU_CHARTER_REQUIRED": "false"}
    if scenario.rate > DEFAULT_SENDS_PER_S:
        env["PREAU_SENDS_PER_S"] = str(scenario.rate * 1.5)
    if scenario.rate * 1.5 > DEFAULT_OPS_PER_S:
        env["PREAU_OPS_PER_S"] = str(scenario.rate * 3)
    env.update(dict(scenario.server_env))
    return env
