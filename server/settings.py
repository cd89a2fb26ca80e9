"""Settings, read once from the environment (documented in docs/operations.md).

Every knob is a ``PREAU_*`` variable with a safe default, so the embedded
server runs with none set. Bad values fail at start-up with the variable's name.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from server.directory.quiet_hours import DEFAULT_WINDOW, check_school_setting


class SettingsError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _quiet_hours(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        return check_school_setting(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("preau-data")
    store_url: str = ""
    broker_url: str = "memory://"
    node_id: str = field(default_factory=lambda: "node-" + secrets.token_hex(4))
    # Origins allowed to open a WebSocket. Empty: only the server's own origin
    # (scheme://host of the request), which is what the bundled web client needs.
    allowed_origins: frozenset[str] = frozenset()
    seed_demo: bool = True
    # The charter of use gate (docs/moderation.md, "Charter of use"): until a
    # person accepted their school's current charter, every op but reading and
    # accepting it answers charter_required. Off only where the ENT's portal
    # already collects acceptance (and in the test harness: tests/server/live.py).
    charter_required: bool = True
    cookie_secure: bool = False
    # Sessions: idle timeout and absolute lifetime, in seconds.
    session_idle_s: int = 2 * 3600
    session_max_s: int = 12 * 3600
    activation_ttl_s: int = 30 * 86400
    # Gateway limits.
    max_frame_bytes: int = 64 * 1024  # larger frames get a too_large error
    hard_frame_bytes: int = 1024 * 1024  # larger frames close the socket (1009)
    # HTTP: a request's head must arrive within this (idle connections too),
    # and its body within the second (server/http/uvicorn_http.py).
    # Operators' token: /api/health's details (node id, version, counters) for
    # callers that are not on the node's own machine.
    ops_token: str = ""
    # Shutdown (SIGTERM): readiness answers 503 for drain_s while the node still
    # serves (the load balancer's checks notice), then clients are told to
    # move (close 1012) and in-flight work gets shutdown_grace_s to finish.
    drain_s: float = 0.0
    shutdown_grace_s: float = 5.0
    # Logs: "text" (human-readable) or "json" (one object per line); metrics
    # on a port of their own (0: off; /metrics behind the operators' token).
    log_format: str = "text"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Reverse proxies believed about the client's address (X-Forwarded-For).
    forwarded_allow_ips: str = "127.0.0.1"
    http_head_timeout_s: float = 10.0
    http_body_timeout_s: float = 30.0
    max_message_chars: int = 4000
    ops_per_s: float = 20.0  # per connection, token bucket
    ops_burst: int = 60
    sends_per_s: float = 2.0  # chat messages per account per node
    sends_burst: int = 10
    max_sockets_per_person: int = 10  # per node: tabs, phone, laptop…
    send_queue_frames: int = 2000  # per-connection outbound queue; overflow disconnects
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    resume_limit: int = 1000  # messages replayed on subscribe before "truncated"
    # Login throttle (server/auth/throttle.py, docs/operations.md "Failed logins").
    # Per account: this many failures go unhindered, then each one makes the
    # next attempt wait login_delay_s, doubled per failure, at most login_delay_max_s.
    login_free_failures: int = 5
    login_delay_s: float = 1.0
    login_delay_max_s: float = 60.0
    # Per address (an IPv6 /64): failed logins per hour, sized for a school
    # behind one NAT address; trusted networks (CIDR) get their own limit.
    login_address_failures_per_hour: int = 300
    login_trusted_networks: tuple[str, ...] = ()
    login_trusted_failures_per_hour: int = 3000
    presence_ttl_s: float = 30.0  # a dead node's people vanish from presence after this
    directory_poll_s: float = 5.0  # how soon a `preau import` run elsewhere takes effect
    # Quiet hours a new school starts with ('HH:MM-HH:MM' delivery window, or
    # 'off'); each school's admins change theirs (docs/moderation.md).
    quiet_hours_default: str = DEFAULT_WINDOW
    # Quiet hours: how often each node looks for messages due for delivery.
    quiet_release_s: float = 30.0
    # Hijacked-account defence: a pupil or parent posting into more than this
    # many different rooms within the window is paused (teachers and staff: 4x).
    burst_rooms: int = 8
    burst_window_s: float = 600.0
    # Private conversations a person may open: per hour, and in a burst.
    conversations_per_hour: float = 30.0
    conversations_burst: int = 10
    # Audit entries, redacted originals and rejected held messages are kept this long.
    audit_retention_days: int = 365
    # Data protection (docs/data-protection.md): retention periods, the erasure
    # of closed accounts, last year's rooms after a rollover, the job's pace.
    message_retention_days: int = 365
    log_retention_days: int = 365  # ended sessions and the access journal
    closed_erasure_days: int = 90  # a closed account is erased this long after
    archived_rooms_days: int = 90  # last year's rooms stay read-only this long
    retention_every_s: float = 3600.0  # one pass per this period, on one node
    retention_lease_s: float = 1800.0  # a crashed node's claim on a pass ends after this
    # Video calls (docs/video.md): mesh up to this many peers, then SFU mode.
    call_mesh_size: int = 4
    call_capacity: int = 60  # peers per call
    call_school_capacity: int = 600  # peers in all the calls of one school
    call_end_without_moderator: bool = True  # default of a new call's control
    # TURN (coturn use-auth-secret): shared secret, stun:/turn: URLs, credentials' lifetime.
    turn_secret: str = field(default="", repr=False)
    turn_urls: tuple[str, ...] = ()
    turn_ttl_s: int = 3600
    # SFU (Janus VideoRoom) for calls in SFU mode: its HTTP API URLs (calls are
    # spread over them, rtc/janus/assign.py) and the secret of its API and rooms.
    janus_urls: tuple[str, ...] = ()
    janus_admin_secret: str = field(default="", repr=False)
    # The built web client (clients/web/dist); empty: the one next to the code.
    web_dir: Path | None = None
    # Shared documents (/collab, docs/collab.md): one update's and one document's
    # stored size, frames per second per socket, log entries before compaction.
    collab_max_update_bytes: int = 512 * 1024
    collab_max_document_bytes: int = 16 * 1024 * 1024
    collab_frames_per_s: float = 200.0
    collab_frames_burst: int = 1000
    collab_compact_after: int = 500

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'preau.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        origins = frozenset(
            o.strip().rstrip("/") for o in env.get("PREAU_ALLOWED_ORIGINS", "").split(",")
            if o.strip()
        )
        if "*" in origins:
            raise SettingsError("PREAU_ALLOWED_ORIGINS takes explicit origins, not '*'")
        if env.get("PREAU_LOGIN_FAILURES_PER_HOUR"):
            # Replaced by the login throttle's settings: refuse to start rather
            # than silently ignore what the operator asked for.
            raise SettingsError(
                "PREAU_LOGIN_FAILURES_PER_HOUR is gone: use PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR"
                " (per address) and PREAU_LOGIN_FREE_FAILURES / PREAU_LOGIN_DELAY_S /"
                " PREAU_LOGIN_DELAY_MAX_S (per account), docs/operations.md"
            )
        settings = cls(
            data_dir=Path(env.get("PREAU_DATA_DIR", "preau-data")),
            store_url=env.get("PREAU_STORE_URL", env.get("DATABASE_URL", "")),
            broker_url=env.get("PREAU_BROKER_URL", "memory://"),
            node_id=env.get("PREAU_NODE_ID") or defaults.node_id,
            allowed_origins=origins,
            seed_demo=_bool(env, "PREAU_SEED_DEMO", True),
            charter_required=_bool(env, "PREAU_CHARTER_REQUIRED", True),
            cookie_secure=_bool(env, "PREAU_COOKIE_SECURE", False),
            session_idle_s=_int(env, "PREAU_SESSION_IDLE_S", defaults.session_idle_s, 60),
            session_max_s=_int(env, "PREAU_SESSION_MAX_S", defaults.session_max_s, 1),
            activation_ttl_s=_int(env, "PREAU_ACTIVATION_TTL_S", defaults.activation_ttl_s, 60),
            max_frame_bytes=_int(env, "PREAU_MAX_FRAME_BYTES", defaults.max_frame_bytes, 1024),
            ops_token=env.get("PREAU_OPS_TOKEN", ""),
            drain_s=_float(env, "PREAU_DRAIN_S", 0.0),
            shutdown_grace_s=_float(env, "PREAU_SHUTDOWN_GRACE_S", 5.0),
            log_format=_log_format(env),
            metrics_port=_int(env, "PREAU_METRICS_PORT", 0),
            metrics_host=env.get("PREAU_METRICS_HOST") or "127.0.0.1",
            forwarded_allow_ips=env.get("PREAU_FORWARDED_ALLOW_IPS") or "127.0.0.1",
            http_head_timeout_s=_float(env, "PREAU_HTTP_HEAD_TIMEOUT_S",
                                       defaults.http_head_timeout_s),
            http_body_timeout_s=_float(env, "PREAU_HTTP_BODY_TIMEOUT_S",
                                       defaults.http_body_timeout_s),
            hard_frame_bytes=_int(env, "PREAU_HARD_FRAME_BYTES", defaults.hard_frame_bytes, 1024),
            max_message_chars=_int(env, "PREAU_MAX_MESSAGE_CHARS", defaults.max_message_chars, 1),
            ops_per_s=_float(env, "PREAU_OPS_PER_S", defaults.ops_per_s),
            ops_burst=_int(env, "PREAU_OPS_BURST", defaults.ops_burst, 1),
            sends_per_s=_float(env, "PREAU_SENDS_PER_S", defaults.sends_per_s),
            sends_burst=_int(env, "PREAU_SENDS_BURST", defaults.sends_burst, 1),
            max_sockets_per_person=_int(
                env, "PREAU_MAX_SOCKETS_PER_PERSON", defaults.max_sockets_per_person, 1
            ),
            send_queue_frames=_int(env, "PREAU_SEND_QUEUE_FRAMES", defaults.send_queue_frames, 10),
            ping_interval_s=_float(env, "PREAU_PING_INTERVAL_S", defaults.ping_interval_s),
            ping_timeout_s=_float(env, "PREAU_PING_TIMEOUT_S", defaults.ping_timeout_s),
            resume_limit=_int(env, "PREAU_RESUME_LIMIT", defaults.resume_limit, 1),
            presence_ttl_s=_float(env, "PREAU_PRESENCE_TTL_S", defaults.presence_ttl_s),
            directory_poll_s=_float(env, "PREAU_DIRECTORY_POLL_S", defaults.directory_poll_s),
            quiet_hours_default=_quiet_hours(env, "PREAU_QUIET_HOURS_DEFAULT",
                                             defaults.quiet_hours_default),
            quiet_release_s=_float(env, "PREAU_QUIET_RELEASE_S", defaults.quiet_release_s),
            burst_rooms=_int(env, "PREAU_BURST_ROOMS", defaults.burst_rooms, 2),
            burst_window_s=_float(env, "PREAU_BURST_WINDOW_S", defaults.burst_window_s),
            conversations_per_hour=_float(
                env, "PREAU_CONVERSATIONS_PER_HOUR", defaults.conversations_per_hour
            ),
            conversations_burst=_int(
                env, "PREAU_CONVERSATIONS_BURST", defaults.conversations_burst, 1
            ),
            audit_retention_days=_int(
                env, "PREAU_AUDIT_RETENTION_DAYS", defaults.audit_retention_days, 1
            ),
            message_retention_days=_int(
                env, "PREAU_MESSAGE_RETENTION_DAYS", defaults.message_retention_days, 1
            ),
            log_retention_days=_int(
                env, "PREAU_LOG_RETENTION_DAYS", defaults.log_retention_days, 1
            ),
            closed_erasure_days=_int(
                env, "PREAU_CLOSED_ERASURE_DAYS", defaults.closed_erasure_days, 0
            ),
            archived_rooms_days=_int(
                env, "PREAU_ARCHIVED_ROOMS_DAYS", defaults.archived_rooms_days, 0
            ),
            retention_every_s=_float(
                env, "PREAU_RETENTION_EVERY_S", defaults.retention_every_s
            ),
            retention_lease_s=_float(
                env, "PREAU_RETENTION_LEASE_S", defaults.retention_lease_s
            ),
            login_free_failures=_int(
                env, "PREAU_LOGIN_FREE_FAILURES", defaults.login_free_failures, 1
            ),
            login_delay_s=_float(env, "PREAU_LOGIN_DELAY_S", defaults.login_delay_s),
            login_delay_max_s=_float(env, "PREAU_LOGIN_DELAY_MAX_S", defaults.login_delay_max_s),
            login_address_failures_per_hour=_int(
                env, "PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR",
                defaults.login_address_failures_per_hour, 1,
            ),
            login_trusted_networks=_networks(env, "PREAU_LOGIN_TRUSTED_NETWORKS"),
            login_trusted_failures_per_hour=_int(
                env, "PREAU_LOGIN_TRUSTED_FAILURES_PER_HOUR",
                defaults.login_trusted_failures_per_hour, 1,
            ),
            call_mesh_size=_int(env, "PREAU_CALL_MESH_SIZE", defaults.call_mesh_size, 2),
            call_capacity=_int(env, "PREAU_CALL_CAPACITY", defaults.call_capacity, 2),
            call_school_capacity=_int(
                env, "PREAU_CALL_SCHOOL_CAPACITY", defaults.call_school_capacity, 2
            ),
            call_end_without_moderator=_bool(
                env, "PREAU_CALL_END_WITHOUT_MODERATOR", defaults.call_end_without_moderator
            ),
            turn_secret=env.get("PREAU_TURN_SECRET", ""),
            turn_urls=_turn_urls(env),
            turn_ttl_s=_int(env, "PREAU_TURN_TTL_S", defaults.turn_ttl_s, 60),
            janus_urls=_janus_urls(env),
            janus_admin_secret=env.get("PREAU_JANUS_ADMIN_SECRET", ""),
            web_dir=Path(env["PREAU_WEB_DIR"]) if env.get("PREAU_WEB_DIR") else None,
            collab_max_update_bytes=_int(
                env, "PREAU_COLLAB_MAX_UPDATE_BYTES", defaults.collab_max_update_bytes, 1024
            ),
            collab_max_document_bytes=_int(
                env, "PREAU_COLLAB_MAX_DOCUMENT_BYTES", defaults.collab_max_document_bytes, 1024
            ),
            collab_frames_per_s=_float(
                env, "PREAU_COLLAB_FRAMES_PER_S", defaults.collab_frames_per_s
            ),
            collab_frames_burst=_int(
                env, "PREAU_COLLAB_FRAMES_BURST", defaults.collab_frames_burst, 1
            ),
            collab_compact_after=_int(
                env, "PREAU_COLLAB_COMPACT_AFTER", defaults.collab_compact_after, 2
            ),
        )
        _check_login_throttle(settings)
        return settings


def _log_format(env: Mapping[str, str]) -> str:
    raw = (env.get("PREAU_LOG_FORMAT") or "text").lower()
    if raw not in ("text", "json"):
        raise SettingsError(f"PREAU_LOG_FORMAT must be text or json, got {raw!r}")
    return raw


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated CIDR networks (``192.0.2.0/24``, ``2001:db8::/48``), normalised."""
    found: list[str] = []
    for raw in env.get(name, "").split(","):
        if not raw.strip():
            continue
        try:
            found.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError:
            raise SettingsError(f"{name} takes CIDR networks, got {raw.strip()[:60]!r}") from None
    return tuple(found)


def _check_login_throttle(settings: Settings) -> None:
    """ASVS: at most 100 failed logins per hour per account, whatever the settings."""
    from server.auth.throttle import MAX_FAILURES_PER_HOUR, DelayPolicy

    policy = DelayPolicy.of(settings)
    worst = policy.worst_case_per_hour()
    if worst > MAX_FAILURES_PER_HOUR:
        raise SettingsError(
            f"PREAU_LOGIN_FREE_FAILURES / PREAU_LOGIN_DELAY_S / PREAU_LOGIN_DELAY_MAX_S allow"
            f" {worst} failed logins per hour on one account; at most"
            f" {MAX_FAILURES_PER_HOUR} (raise the delays)"
        )


def _turn_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in env.get("PREAU_TURN_URLS", "").split(",") if u.strip())
    for url in urls:
        if url.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns"):
            raise SettingsError(f"PREAU_TURN_URLS takes stun:/turn: URLs, got {url[:60]!r}")
    return urls


def _janus_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in env.get("PREAU_JANUS_URLS", "").split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise SettingsError(f"PREAU_JANUS_URLS takes http(s):// URLs, got {url[:60]!r}")
    if urls and not env.get("PREAU_JANUS_ADMIN_SECRET"):
        raise SettingsError("PREAU_JANUS_URLS needs PREAU_JANUS_ADMIN_SECRET")
    return urls
