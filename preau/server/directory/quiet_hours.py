"""Quiet hours: when messages to pupils and parents wait for the morning.

A school has a *delivery window* in its own time zone (default 07:00–20:00,
the French practice of the "droit à la déconnexion" that Pronote and Open ENT
NG apply to families); a room may follow the school's, have its own, or have
none. Outside the window a message to pupils or parents is committed at once
(the sender's acknowledgement means it is safe) and *delivered* when the
window opens: it is scheduled, not dropped. Staff-to-staff messages and an
admin's urgent message are never deferred.

Pure functions over the wall clock's milliseconds and a time-zone name; the
services pass an injected clock, so tests move time, not sleep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SCHOOL = "school"  # a room's setting: follow the school's window
OFF = "off"  # no quiet hours
DEFAULT_WINDOW = "07:00-20:00"

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class DeliveryWindow:
    """Minutes of the day when messages are delivered at once: ``[open, close)``.

    ``open > close`` spans midnight (a boarding school's 18:00–08:00, say).
    """

    open_min: int
    close_min: int

    def __str__(self) -> str:
        return f"{self.open_min // 60:02d}:{self.open_min % 60:02d}-" \
               f"{self.close_min // 60:02d}:{self.close_min % 60:02d}"

    def contains(self, minute: int) -> bool:
        if self.open_min <= self.close_min:
            return self.open_min <= minute < self.close_min
        return minute >= self.open_min or minute < self.close_min


def parse_window(text: str) -> DeliveryWindow:
    """``"HH:MM-HH:MM"`` → a window; ``ValueError`` for anything else (or an empty window)."""
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError("quiet hours are 'HH:MM-HH:MM' (the delivery window), or 'off'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    window = DeliveryWindow(h1 * 60 + m1, h2 * 60 + m2)
    if window.open_min == window.close_min:
        raise ValueError("the delivery window is empty: use 'off' for no quiet hours")
    return window


def check_school_setting(text: str) -> str:
    """A school's setting: a window or ``off``. Returns it, or raises ``ValueError``."""
    if text != OFF:
        parse_window(text)
    return text


def check_room_setting(text: str) -> str:
    """A room's setting: ``school``, ``off`` or a window of its own."""
    if text != SCHOOL:
        check_school_setting(text)
    return text


def effective_window(school_setting: str, room_setting: str) -> DeliveryWindow | None:
    """The window in force in a room; ``None``: no quiet hours there."""
    setting = school_setting if room_setting == SCHOOL else room_setting
    return None if setting == OFF else parse_window(setting)


def release_time(now_ms: int, timezone: str, window: DeliveryWindow | None) -> int | None:
    """When a message sent at ``now_ms`` may be delivered: ``None`` for now
    (inside the window, or no quiet hours), else the next opening, in ms.

    Computed on the local calendar, so the opening is 07:00 local on both
    sides of a daylight-saving change; a local opening time that does not
    exist that day (skipped by the change) resolves forward, as zoneinfo does.
    """
    if window is None:
        return None
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone)
    minute = local.hour * 60 + local.minute
    if window.contains(minute):
        return None
    opening_today = local.replace(
        hour=window.open_min // 60, minute=window.open_min % 60, second=0, microsecond=0
    )
    opening = opening_today if minute < window.open_min else opening_today + timedelta(days=1)
    # Wall-clock arithmetic in the zone, then back to an instant: fold/gap aware.
    instant = datetime(opening.year, opening.month, opening.day, opening.hour,
                       opening.minute, tzinfo=zone)
    return int(instant.astimezone(UTC).timestamp() * 1000)
