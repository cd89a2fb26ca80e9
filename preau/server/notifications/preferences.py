"""How each person is told of each kind of notification (pure: no I/O).

A channel per kind: ``in_app`` (the notification centre only), ``email``
(and an e-mail at once), ``daily`` / ``weekly`` (and a digest), ``never``.
A kind the person never chose follows their profile's default: parents get
an e-mail for private messages, conversations opened with them,
announcements and mentions; everyone else is told in the app. Pupils are told in the app
only (``in_app`` or ``never``). A school may force a kind ``on`` (nobody may
choose ``never``: a safety announcement) or ``off`` (nobody is told).
"""

from __future__ import annotations

from preau.server.directory.model import Profile

CHANNELS = ("in_app", "email", "daily", "weekly", "never")
FORCED = ("on", "off")

# The kinds of notification (docs/protocol.md, "Notifications"), each chosen for.
KINDS = (
    "message",  # a private message in a conversation one is part of
    "conversation",  # a conversation opened with one
    "announcement",  # a message asking for an acknowledgement ("J'ai lu")
    "mention",  # one is named (« @Prénom Nom ») in a class or parents' room
    "held.approved",  # one's held message was approved
    "held.rejected",  # one's held message was rejected
    "report.resolved",  # a report one made was resolved
    "scheduled.delivered",  # one's message held by quiet hours was delivered
    "document.shared",  # a document was shared in one's room
    "document.locked",  # a document of one's room was locked
    "call.started",  # a call started in one's room
)

_PARENT_EMAIL = frozenset({"message", "conversation", "announcement", "mention"})


def default_channel(profile: Profile, kind: str) -> str:
    if profile is Profile.PARENT and kind in _PARENT_EMAIL:
        return "email"
    return "in_app"


def allowed_channels(profile: Profile) -> tuple[str, ...]:
    """Pupils: in the app only (minors' e-mail addresses are not used)."""
    if profile is Profile.PUPIL:
        return ("in_app", "never")
    return CHANNELS


def effective_channel(
    profile: Profile, kind: str, chosen: str | None, forced: str | None
) -> str:
    """The channel that applies: the school's rule, then the person's choice
    (if still allowed), then the default."""
    if forced == "off":
        return "never"
    channel = chosen if chosen in allowed_channels(profile) else None
    if channel is None:
        channel = default_channel(profile, kind)
    if forced == "on" and channel == "never":
        return "in_app"
    return channel


DIGEST_HOUR = 18  # digests leave at 18:00 school time: daily, and weekly on Fridays
DIGEST_WEEKDAY = 4  # Friday


def next_digest_ms(now_ms: int, timezone: str, period: str) -> int:
    """When the next ``daily`` or ``weekly`` digest after ``now_ms`` leaves,
    in the school's time zone (18:00; weekly: Friday 18:00)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    now = datetime.fromtimestamp(now_ms / 1000, zone)
    at = now.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    if period == "weekly":
        at += timedelta(days=(DIGEST_WEEKDAY - at.weekday()) % 7)
    # Re-anchor on the wall clock (a daylight-saving change on the way).
    at = datetime(at.year, at.month, at.day, DIGEST_HOUR, tzinfo=zone)
    return int(at.timestamp() * 1000)
