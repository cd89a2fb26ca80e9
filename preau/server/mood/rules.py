"""The mood of the day's pictures and rules, pure (no I/O).

A pupil of a class the school marks as kindergarten (``maternelle``) or
primary (``elementaire``) picks one picture for each of three questions —
their mood, their night, their breakfast — once per day in the school's time
zone. A pick may be changed until noon (school time); after noon a question
not answered yet may still be answered once, one already answered stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LEVELS = ("maternelle", "elementaire")  # kindergarten, primary
QUESTIONS = ("mood", "night", "breakfast")
CUTOFF_HOUR = 12  # picks may change until noon, school time


@dataclass(frozen=True, slots=True)
class Picture:
    id: str
    emoji: str  # the picture itself (large on screen); the labels are its text alternative
    fr: str
    en: str


PICTURES: dict[str, tuple[Picture, ...]] = {
    "mood": (
        Picture("happy", "😀", "Content", "Happy"),
        Picture("calm", "🙂", "Calme", "Calm"),
        Picture("sad", "😢", "Triste", "Sad"),
        Picture("angry", "😠", "En colère", "Angry"),
        Picture("tired", "🥱", "Fatigué", "Tired"),
    ),
    "night": (
        Picture("good", "😴", "J'ai bien dormi", "I slept well"),
        Picture("short", "⏰", "Pas assez dormi", "Not enough sleep"),
        Picture("bad", "🌩️", "J'ai mal dormi", "I slept badly"),
    ),
    "breakfast": (
        Picture("big", "🥐", "Un bon petit déjeuner", "A good breakfast"),
        Picture("small", "🍎", "Un petit peu", "A little"),
        Picture("none", "🚫", "Rien mangé", "Nothing"),
    ),
}
QUESTION_LABELS = {
    "mood": ("Comment je me sens", "How I feel"),
    "night": ("Ma nuit", "My night"),
    "breakfast": ("Mon petit déjeuner", "My breakfast"),
}


def is_level(value: str) -> bool:
    return value in LEVELS


def is_picture(question: str, value: str) -> bool:
    return any(p.id == value for p in PICTURES.get(question, ()))


def catalogue() -> list[dict[str, object]]:
    """The questions and their pictures, as the clients show them."""
    return [
        {"question": q, "fr": QUESTION_LABELS[q][0], "en": QUESTION_LABELS[q][1],
         "pictures": [{"id": p.id, "emoji": p.emoji, "fr": p.fr, "en": p.en}
                      for p in PICTURES[q]]}
        for q in QUESTIONS
    ]


def _local(now_ms: int, timezone: str) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone))


def school_day(now_ms: int, timezone: str) -> str:
    """Today in the school's time zone, ``YYYY-MM-DD`` (sorts as it reads)."""
    return _local(now_ms, timezone).date().isoformat()


def may_change(now_ms: int, timezone: str) -> bool:
    """Before noon, school time: a pick already made may still change."""
    return _local(now_ms, timezone).hour < CUTOFF_HOUR


def change_until_ms(now_ms: int, timezone: str) -> int:
    """Today's noon in the school's time zone, in ms since the epoch."""
    local = _local(now_ms, timezone)
    noon = local.replace(hour=CUTOFF_HOUR, minute=0, second=0, microsecond=0)
    return int(noon.timestamp() * 1000)


def school_year_start(day: date) -> date:
    """The first day of the school year ``day`` is in: 1 August (the summer
    break) on or before it. Moods of earlier days are purged."""
    year = day.year if day.month >= 8 else day.year - 1
    return date(year, 8, 1)


def first_day_kept(now_ms: int) -> str:
    """The oldest day whose moods the retention job keeps (UTC: a few hours
    either side of 1 August do not matter)."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    return school_year_start(today).isoformat()
