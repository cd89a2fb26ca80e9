"""Settings, read once from the environment (documented in docs/operations.md).

Every knob is a ``PREAU_*`` variable with a safe default, so the embedded
server runs with none set. Each is declared once, below: its name (the field
name, upper-cased, after ``PREAU_``), its type, its bound and its default;
pydantic-settings reads the environment (docs/decisions.md, "Settings").
Bad values fail at start-up with the variable's name, in one plain sentence
(:class:`SettingsError`), whatever their kind:

- integers: ``PREAU_X must be an integer, got 'abc'`` / ``must be at least N``;
- numbers (seconds, rates): ``must be a number`` / ``must be positive``;
- switches: ``must be true or false`` (1/0, true/false, yes/no, on/off);
- lists: comma-separated, each item checked (origins, CIDR networks, URLs).

An empty variable counts as unset. ``Settings(...)`` builds settings from
arguments only (tests), with the same checks of each value; ``Settings.from_env()`` reads
the environment (or the mapping given), and also checks that settings which
go together are set together.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from preau.server.directory.quiet_hours import DEFAULT_WINDOW, check_school_setting

PREFIX = "PREAU_"


class SettingsError(ValueError):
    pass


# -- kinds: how a raw value is read and checked ------------------------------------


class AtLeast:
    """An integer setting's lower bound (integers without one: at least 0)."""

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum


class Check:
    """A setting read by its own function ``(variable name, raw value) → value``."""

    def __init__(self, read: Callable[[str, Any], Any]) -> None:
        self.read = read


def _int(name: str, raw: Any, minimum: int) -> int:
    if isinstance(raw, str):
        try:
            raw = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise SettingsError(f"{name} must be an integer, got {raw!r}")
    if raw < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw}")
    return raw


def _float(name: str, raw: Any) -> float:
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise SettingsError(f"{name} must be a number, got {raw!r}")
    value = float(raw)
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _items(raw: Any) -> list[str]:
    """A comma-separated list (from the environment) or an iterable (from code)."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    return [str(p).strip() for p in parts if str(p).strip()]


def _vapid_subject(name: str, raw: Any) -> str:
    value = str(raw).strip()
    if value and not value.startswith(("mailto:", "https://")):
        raise SettingsError(f"{name} is a mailto: or https:// contact, got {value!r}")
    return value


def _push_services(name: str, raw: Any) -> tuple[str, ...]:
    hosts = tuple(h.lower().lstrip(".") for h in _items(raw))
    for host in hosts:
        if host != "*" and not re.fullmatch(r"[a-z0-9.-]+", host):
            raise SettingsError(f"{name} takes host names (or '*'), got {host!r}")
    return hosts


def _origins(name: str, raw: Any) -> frozenset[str]:
    origins = frozenset(o.rstrip("/") for o in _items(raw))
    if "*" in origins:
        raise SettingsError(f"{name} takes explicit origins, not '*'")
    return origins


def _profiles(name: str, raw: Any) -> frozenset[str]:
    profiles = frozenset(_items(raw))
    unknown = profiles - {"pupil", "parent", "teacher", "staff"}
    if unknown:
        raise SettingsError(f"{name} lists profiles among pupil, parent, teacher, staff;"
                            f" got {sorted(unknown)[0]!r}")
    return profiles


def _networks(name: str, raw: Any) -> tuple[str, ...]:
    """Comma-separated CIDR networks (``192.0.2.0/24``, ``2001:db8::/48``), normalised."""
    found: list[str] = []
    for item in _items(raw):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{name} takes CIDR networks, got {item[:60]!r}") from None
    return tuple(found)


def _turn_urls(name: str, raw: Any) -> tuple[str, ...]:
    urls = tuple(_items(raw))
    for url in urls:
        if url.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns"):
            raise SettingsError(f"{name} takes stun:/turn: URLs, got {url[:60]!r}")
    return urls


def _janus_urls(name: str, raw: Any) -> tuple[str, ...]:
    urls = tuple(_items(raw))
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name} takes http(s):// URLs, got {url[:60]!r}")
    return urls


def _quiet_hours(name: str, raw: Any) -> str:
    try:
        return check_school_setting(str(raw))
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _log_format(name: str, raw: Any) -> str:
    value = str(raw).lower()
    if value not in ("text", "json"):
        raise SettingsError(f"{name} must be text or json, got {value!r}")
    return value


ATTACHMENT_KINDS = frozenset({"document", "image", "audio", "video"})


def _attachment_kinds(name: str, raw: Any) -> frozenset[str]:
    kinds = frozenset(_items(raw))
    unknown = kinds - ATTACHMENT_KINDS
    if unknown:
        raise SettingsError(
            f"{name} takes {', '.join(sorted(ATTACHMENT_KINDS))}, got {', '.join(sorted(unknown))}")
    return kinds


def _attachment_store(name: str, raw: Any) -> str:
    value = str(raw).strip()
    scheme = value.partition(":")[0].lower()
    if value and scheme not in ("file", "store"):
        raise SettingsError(f"{name} is file:///path, store: (the database) or empty, got a "
                            f"{scheme!r} URL")
    return value


def _new_node_id() -> str:
    return "node-" + secrets.token_hex(4)


# The mapping ``from_env`` reads (None: ``Settings(...)`` reads no environment).
_ENV: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "preau_settings_env", default=None)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            (key if self.case_sensitive else key.lower()): value
            for key, value in self._mapping.items()
            if not (self.env_ignore_empty and value == "")
        }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, case_sensitive=False, frozen=True,
        enable_decoding=False,  # lists are comma-separated, not JSON
        extra="forbid", validate_default=False, populate_by_name=True,
    )

    data_dir: Path = Path("preau-data")
    # PREAU_STORE_URL, else DATABASE_URL (what PaaS hosts set), else the SQLite file.
    store_url: str = Field("", validation_alias=AliasChoices("PREAU_STORE_URL", "DATABASE_URL"))
    broker_url: str = "memory://"
    node_id: str = Field(default_factory=_new_node_id)
    # Origins allowed to open a WebSocket. Empty: only the server's own origin
    # (scheme://host of the request), which is what the bundled web client needs.
    allowed_origins: Annotated[frozenset[str], Check(_origins)] = frozenset()
    seed_demo: bool = True
    # The charter of use gate (docs/moderation.md, "Charter of use"): until a
    # person accepted their school's current charter, every op but reading and
    # accepting it answers charter_required. Off only where the ENT's portal
    # already collects acceptance (and in the test harness: tests/server/live.py).
    charter_required: bool = True
    cookie_secure: bool = False
    # Sessions: idle timeout and absolute lifetime, in seconds.
    session_idle_s: Annotated[int, AtLeast(60)] = 2 * 3600
    session_max_s: Annotated[int, AtLeast(1)] = 12 * 3600
    # "Remember this device" (a box at login): these timeouts instead, for
    # these profiles only (never pupils by default: school computers are shared).
    remember_idle_s: Annotated[int, AtLeast(60)] = 30 * 86400
    remember_max_s: Annotated[int, AtLeast(1)] = 90 * 86400
    remember_profiles: Annotated[frozenset[str], Check(_profiles)] = frozenset(
        {"parent", "teacher", "staff"})
    activation_ttl_s: Annotated[int, AtLeast(60)] = 30 * 86400
    # Single sign-on (OpenID Connect, CAS) and local passwords per profile: a
    # TOML file the operator writes (docs/operations.md, "Single sign-on").
    sso_config: Path | None = None
    # Gateway limits.
    max_frame_bytes: Annotated[int, AtLeast(1024)] = 64 * 1024  # larger: a too_large error
    hard_frame_bytes: Annotated[int, AtLeast(1024)] = 1024 * 1024  # larger: closed (1009)
    # Operators' token: /api/health's details (node id, version, counters) and
    # /metrics for callers that are not on the node's own machine.
    ops_token: str = Field("", repr=False)
    # Shutdown (SIGTERM): readiness answers 503 for drain_s while the node still
    # serves (the load balancer's checks notice), then clients are told to
    # move (close 1012) and in-flight work gets shutdown_grace_s to finish.
    drain_s: float = 0.0
    shutdown_grace_s: float = 5.0
    # Logs: "text" (human-readable) or "json" (one object per line); metrics
    # on a port of their own (0: off; /metrics behind the operators' token).
    log_format: Annotated[str, Check(_log_format)] = "text"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Reverse proxies believed about the client's address (X-Forwarded-For).
    forwarded_allow_ips: str = "127.0.0.1"
    # HTTP: a request's head must arrive within this (idle connections too),
    # and its body within the second (preau/server/http/uvicorn_http.py).
    http_head_timeout_s: float = 10.0
    http_body_timeout_s: float = 30.0
    max_message_chars: Annotated[int, AtLeast(1)] = 4000
    ops_per_s: float = 20.0  # per connection, token bucket
    ops_burst: Annotated[int, AtLeast(1)] = 60
    sends_per_s: float = 2.0  # chat messages per account per node
    sends_burst: Annotated[int, AtLeast(1)] = 10
    max_sockets_per_person: Annotated[int, AtLeast(1)] = 10  # per node: tabs, phone, laptop…
    # Per-connection outbound queue; overflow disconnects.
    send_queue_frames: Annotated[int, AtLeast(10)] = 2000
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    resume_limit: Annotated[int, AtLeast(1)] = 1000  # replayed on subscribe before "truncated"
    # Login throttle (preau/server/auth/throttle.py, docs/operations.md "Failed logins").
    # Per account: this many failures go unhindered, then each one makes the
    # next attempt wait login_delay_s, doubled per failure, at most login_delay_max_s.
    login_free_failures: Annotated[int, AtLeast(1)] = 5
    login_delay_s: float = 1.0
    login_delay_max_s: float = 60.0
    # Per address (an IPv6 /64): failed logins per hour, sized for a school
    # behind one NAT address; trusted networks (CIDR) get their own limit.
    login_address_failures_per_hour: Annotated[int, AtLeast(1)] = 300
    login_trusted_networks: Annotated[tuple[str, ...], Check(_networks)] = ()
    login_trusted_failures_per_hour: Annotated[int, AtLeast(1)] = 3000
    presence_ttl_s: float = 30.0  # a dead node's people vanish from presence after this
    # How soon a `preau import` run beside the nodes takes effect when they
    # cannot be told (no shared broker: the embedded default); one indexed read.
    directory_poll_s: float = 1.0
    # Quiet hours a new school starts with ('HH:MM-HH:MM' delivery window, or
    # 'off'); each school's admins change theirs (docs/moderation.md).
    quiet_hours_default: Annotated[str, Check(_quiet_hours)] = DEFAULT_WINDOW
    # Quiet hours: how often each node looks for messages due for delivery.
    quiet_release_s: float = 30.0
    # Hijacked-account defence: a pupil or parent posting into more than this
    # many different rooms within the window is paused (teachers and staff: 4x).
    burst_rooms: Annotated[int, AtLeast(2)] = 8
    burst_window_s: float = 600.0
    # Private conversations a person may open: per hour, and in a burst.
    conversations_per_hour: float = 30.0
    conversations_burst: Annotated[int, AtLeast(1)] = 10
    # Audit entries, redacted originals and rejected held messages are kept this long.
    audit_retention_days: Annotated[int, AtLeast(1)] = 365
    # Data protection (docs/data-protection.md): retention periods, the erasure
    # of closed accounts, last year's rooms after a rollover, the job's pace.
    message_retention_days: Annotated[int, AtLeast(1)] = 365
    log_retention_days: Annotated[int, AtLeast(1)] = 365  # ended sessions, the access journal
    notification_retention_days: Annotated[int, AtLeast(1)] = 90  # read or not
    # Notification e-mails (docs/operations.md, "E-mail"): the operator's SMTP
    # relay (empty host: no e-mail), the sender, the address links point to.
    smtp_host: str = ""
    smtp_port: Annotated[int, AtLeast(1)] = 25
    smtp_from: str = "Préau <no-reply@localhost>"
    smtp_timeout_s: float = 30.0
    public_url: str = "http://127.0.0.1:8000"
    # Each node looks this often for posts whose notifications were left
    # undone (a node stopped between a post and its fan-out; see
    # preau/server/notifications/service.py, the outbox).
    notification_outbox_s: float = 5.0
    email_every_s: float = 5.0  # each node looks for due mails this often
    email_retry_s: float = 60.0  # a transient (4xx) failure: retried after this, doubled each time
    email_attempts: Annotated[int, AtLeast(1)] = 8  # then the mail is given up (failed)
    email_per_minute: int = 600  # per school, on all nodes (0: no limit): protects the relay
    # Web Push (docs/operations.md, "Web Push"): the VAPID private key (raw
    # P-256, base64url; empty: generated once and kept in the store), the
    # contact in its tokens (mailto: or https:; empty: PREAU_PUBLIC_URL), the
    # push services a browser's subscription may name (host suffixes; '*':
    # any https host), and http://127.0.0.1 endpoints (tests only).
    vapid_private_key: str = Field("", repr=False)
    vapid_subject: Annotated[str, Check(_vapid_subject)] = ""
    push_services: Annotated[tuple[str, ...], Check(_push_services)] = (
        "fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com",
        "notify.windows.com")
    push_allow_loopback: bool = False
    push_every_s: float = 2.0  # each node looks for due pushes this often
    push_ttl_s: Annotated[int, AtLeast(0)] = 86400  # the push service keeps it this long
    push_timeout_s: float = 10.0
    push_retry_s: float = 30.0  # 429/5xx: retried after this (or Retry-After), doubled
    push_attempts: Annotated[int, AtLeast(1)] = 6  # then the push is given up (failed)
    push_devices_max: Annotated[int, AtLeast(1)] = 10  # devices per person
    # Password recovery by e-mail (docs/operations.md, "Password recovery"):
    # the link's lifetime, the answer's fixed duration (the same whether the
    # login exists or not), requests per hour per login, per client address
    # and mails per hour per e-mail address.
    recovery_ttl_s: Annotated[int, AtLeast(60)] = 1800
    recovery_answer_ms: Annotated[int, AtLeast(0)] = 400
    recovery_per_login_hour: Annotated[int, AtLeast(1)] = 3
    recovery_per_ip_hour: Annotated[int, AtLeast(1)] = 30
    recovery_per_email_hour: Annotated[int, AtLeast(1)] = 3
    closed_erasure_days: int = 90  # a closed account is erased this long after
    archived_rooms_days: int = 90  # last year's rooms stay read-only this long
    retention_every_s: float = 3600.0  # one pass per this period, on one node
    retention_lease_s: float = 1800.0  # a crashed node's claim on a pass ends after this
    # Video calls (docs/video.md): mesh up to this many peers, then SFU mode.
    call_mesh_size: Annotated[int, AtLeast(2)] = 4
    call_capacity: Annotated[int, AtLeast(2)] = 60  # peers per call
    call_school_capacity: Annotated[int, AtLeast(2)] = 600  # in all the calls of one school
    call_end_without_moderator: bool = True  # default of a new call's control
    # TURN (coturn use-auth-secret): shared secret, stun:/turn: URLs, credentials' lifetime.
    turn_secret: str = Field("", repr=False)
    turn_urls: Annotated[tuple[str, ...], Check(_turn_urls)] = ()
    turn_ttl_s: Annotated[int, AtLeast(60)] = 3600
    # SFU (Janus VideoRoom) for calls in SFU mode: its HTTP API URLs (calls are
    # spread over them, preau/rtc/janus/assign.py) and the secret of its API and rooms.
    janus_urls: Annotated[tuple[str, ...], Check(_janus_urls)] = ()
    janus_admin_secret: str = Field("", repr=False)
    # The built web client (clients/web/dist); empty: the one next to the code.
    web_dir: Path | None = None
    # Shared documents (/collab, docs/collab.md): one update's and one document's
    # stored size, frames per second per socket, log entries before compaction.
    collab_max_update_bytes: Annotated[int, AtLeast(1024)] = 512 * 1024
    collab_max_document_bytes: Annotated[int, AtLeast(1024)] = 16 * 1024 * 1024
    collab_frames_per_s: float = 200.0
    collab_frames_burst: Annotated[int, AtLeast(1)] = 1000
    collab_compact_after: Annotated[int, AtLeast(2)] = 500
    # Attachments (docs/attachments.md): one file's size, what a person and a
    # school may keep in all, what kinds of files are accepted (document,
    # image, audio, video), the clamd socket ("unix:/path" or "tcp:host:port";
    # empty: no scanner, every file waits as pending until one is set), where
    # the bytes live ("file:///path"; "store:" the database itself, for
    # several nodes; empty: <data_dir>/blobs with SQLite, the database with
    # PostgreSQL), how long an upload never sent waits, a decoded image's
    # pixel budget, how often pending files are scanned again.
    attachment_max_bytes: Annotated[int, AtLeast(1024)] = 20 * 1024 * 1024
    attachment_person_quota_bytes: Annotated[int, AtLeast(1024)] = 500 * 1024 * 1024
    attachment_school_quota_bytes: Annotated[int, AtLeast(1024)] = 50 * 1024 * 1024 * 1024
    attachment_kinds: Annotated[frozenset[str], Check(_attachment_kinds)] = ATTACHMENT_KINDS
    attachment_clamd: str = ""
    attachment_store: Annotated[str, Check(_attachment_store)] = ""
    attachment_unbound_s: Annotated[int, AtLeast(60)] = 3600
    attachment_max_pixels: Annotated[int, AtLeast(1024)] = 40_000_000
    attachment_rescan_s: float = 60.0
    # Uploads per account (global across nodes on Redis): a burst (a teacher
    # sharing the outing's photos), then this many per hour.
    attachment_uploads_per_hour: float = 300.0
    attachment_uploads_burst: Annotated[int, AtLeast(1)] = 40

    # Variables that were replaced: refuse to start rather than silently
    # ignore what the operator asked for.
    GONE: ClassVar[dict[str, str]] = {
        "PREAU_LOGIN_FAILURES_PER_HOUR":
            "PREAU_LOGIN_FAILURES_PER_HOUR is gone: use PREAU_LOGIN_ADDRESS_FAILURES_PER_HOUR"
            " (per address) and PREAU_LOGIN_FREE_FAILURES / PREAU_LOGIN_DELAY_S /"
            " PREAU_LOGIN_DELAY_MAX_S (per account), docs/operations.md",
    }

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _readable(exc) from None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _ENV.get()
        if env is None:
            return (init_settings,)
        return (init_settings, _MappingSource(settings_cls, env))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        for name, why in cls.GONE.items():
            if env.get(name):
                raise SettingsError(why)
        token = _ENV.set(env)
        try:
            settings = cls()
        finally:
            _ENV.reset(token)
        # What an operator sets must also hold together (settings built in
        # code, by tests, may leave these out: a dead Janus, a fast throttle).
        if settings.janus_urls and not settings.janus_admin_secret:
            raise SettingsError("PREAU_JANUS_URLS needs PREAU_JANUS_ADMIN_SECRET")
        _check_login_throttle(settings)
        return settings

    @field_validator("*", mode="before")
    @classmethod
    def _read(cls, raw: Any, info: ValidationInfo) -> Any:
        """Every setting's kind, in one place: see the module's docstring."""
        assert info.field_name is not None
        field = cls.model_fields[info.field_name]
        name = PREFIX + info.field_name.upper()
        for meta in field.metadata:
            if isinstance(meta, Check):
                return meta.read(name, raw)
            if isinstance(meta, AtLeast):
                return _int(name, raw, meta.minimum)
        kind = field.annotation
        if kind is int:
            return _int(name, raw, 0)
        if kind is float:
            return _float(name, raw)
        if kind is bool:
            return _bool(name, raw)
        return raw

    @classmethod
    def variables(cls) -> list[str]:
        """Every ``PREAU_*`` variable read (docs/operations.md lists them all)."""
        return [PREFIX + name.upper() for name in cls.model_fields]

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'preau.db'}"


def _readable(exc: ValidationError) -> SettingsError:
    """The first error as the plain sentence its check wrote (not pydantic's report)."""
    first = exc.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, SettingsError):
        return cause
    where = ".".join(str(part) for part in first.get("loc", ()))
    name = PREFIX + where.upper() if where else "settings"
    return SettingsError(f"{name}: {first.get('msg', 'invalid')}")


def _check_login_throttle(settings: Settings) -> None:
    """ASVS: at most 100 failed logins per hour per account, whatever the settings."""
    from preau.server.auth.throttle import MAX_FAILURES_PER_HOUR, DelayPolicy

    policy = DelayPolicy.of(settings)
    worst = policy.worst_case_per_hour()
    if worst > MAX_FAILURES_PER_HOUR:
        raise SettingsError(
            f"PREAU_LOGIN_FREE_FAILURES / PREAU_LOGIN_DELAY_S / PREAU_LOGIN_DELAY_MAX_S allow"
            f" {worst} failed logins per hour on one account; at most"
            f" {MAX_FAILURES_PER_HOUR} (raise the delays)"
        )
