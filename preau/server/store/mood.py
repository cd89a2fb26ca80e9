"""The mood of the day in SQL: classes' levels (kindergarten, primary) and
pupils' daily picks (``moods``: one row per pupil and school day).

The rules (which pictures, which day, until when a pick may change) are
``preau/server/mood/rules.py``; the service (``preau/server/mood/service.py``) decides who
may read or write. Export, erasure and the yearly purge are in
``preau/server/store/privacy.py`` with every other table holding a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from preau.server.mood.rules import QUESTIONS
from preau.server.store.engine import Row, SqlBase
from preau.server.store.records import AuditAction
from preau.server.store.rows import audit


@dataclass(frozen=True, slots=True)
class MoodEntry:
    """A pupil's picks for one school day (``None``: not answered yet)."""

    person_id: str
    class_id: str
    day: str  # YYYY-MM-DD in the school's time zone
    mood: str | None
    night: str | None
    breakfast: str | None
    updated_ms: int

    def picks(self) -> dict[str, str | None]:
        return {"mood": self.mood, "night": self.night, "breakfast": self.breakfast}


_COLUMNS = "person_id, class_id, day, mood, night, breakfast, updated_ms"


def _entry(r: Row) -> MoodEntry:
    return MoodEntry(r["person_id"], r["class_id"], r["day"], r["mood"], r["night"],
                     r["breakfast"], int(r["updated_ms"]))


class MoodStore(Protocol):
    """Classes' levels and the mood of the day."""

    async def class_levels(self, school_id: str) -> dict[str, str]:
        """The school's classes marked kindergarten or primary: class id → level."""

    async def set_class_level(
        self, school_id: str, class_id: str, level: str | None, actor_id: str | None,
        now_ms: int,
    ) -> bool:
        """Mark a class of the school (``None``: unmark it), audited in the same
        transaction when it changed (unless ``actor_id`` is None: the directory
        import's ``niveau`` column). False: no such class in this school."""

    async def set_mood(
        self,
        person_id: str,
        school_id: str,
        class_id: str,
        day: str,
        picks: dict[str, str],
        may_change: bool,
        now_ms: int,
    ) -> tuple[MoodEntry, bool] | None:
        """Record a pupil's ``picks`` for ``day`` (question → picture; the others
        stay). Unless ``may_change``, a question already answered keeps its
        answer: a different one refuses the whole call (``None``). Returns the
        day's entry and whether anything changed."""

    async def moods_of_day(self, person_ids: Sequence[str], day: str) -> list[MoodEntry]:
        """These people's entries for ``day``."""

    async def moods_of(self, person_id: str, since_day: str) -> list[MoodEntry]:
        """One person's entries from ``since_day`` on, newest first."""


class MoodSql(SqlBase, MoodStore):
    """The mood of the day's SQL (one transaction per method)."""

    async def class_levels(self, school_id: str) -> dict[str, str]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT class_id, level FROM class_levels WHERE school_id = $1", school_id
            )
        return {r["class_id"]: r["level"] for r in rows}

    async def set_class_level(
        self, school_id: str, class_id: str, level: str | None, actor_id: str | None,
        now_ms: int,
    ) -> bool:
        async with self._engine.transaction() as tx:
            known = await tx.fetchval(
                "SELECT 1 FROM classes WHERE id = $1 AND school_id = $2", class_id, school_id
            )
            if known is None:
                return False
            before = await tx.fetchval(
                "SELECT level FROM class_levels WHERE class_id = $1", class_id
            )
            if before == level:
                return True
            if level is None:
                await tx.execute("DELETE FROM class_levels WHERE class_id = $1", class_id)
            else:
                await tx.execute(
                    "INSERT INTO class_levels (class_id, school_id, level, updated_ms)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (class_id) DO UPDATE"
                    " SET level = $3, updated_ms = $4",
                    class_id, school_id, level, now_ms,
                )
            if actor_id is not None:
                await audit(tx, school_id, None, actor_id, AuditAction.CLASS_LEVEL, now_ms,
                            details={"class": class_id, "level": level, "before": before})
        return True

    async def set_mood(
        self,
        person_id: str,
        school_id: str,
        class_id: str,
        day: str,
        picks: dict[str, str],
        may_change: bool,
        now_ms: int,
    ) -> tuple[MoodEntry, bool] | None:
        async with self._engine.transaction() as tx:
            # Two tabs picking at once: the insert serialises them on the key.
            await tx.execute(
                "INSERT INTO moods (person_id, day, school_id, class_id, created_ms, updated_ms)"
                " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (person_id, day) DO NOTHING",
                person_id, day, school_id, class_id, now_ms,
            )
            row = await tx.fetchrow(
                f"SELECT {_COLUMNS} FROM moods WHERE person_id = $1 AND day = $2",
                person_id, day,
            )
            assert row is not None
            current = _entry(row).picks()
            if not may_change and any(
                current[q] is not None and current[q] != v for q, v in picks.items()
            ):
                await tx.rollback()
                return None
            merged = {q: picks.get(q, current[q]) for q in QUESTIONS}
            changed = merged != current or row["class_id"] != class_id
            if changed:
                row = await tx.fetchrow(
                    "UPDATE moods SET mood = $3, night = $4, breakfast = $5, class_id = $6,"
                    f" updated_ms = $7 WHERE person_id = $1 AND day = $2 RETURNING {_COLUMNS}",
                    person_id, day, merged["mood"], merged["night"], merged["breakfast"],
                    class_id, now_ms,
                )
                assert row is not None
        return _entry(row), changed

    async def moods_of_day(self, person_ids: Sequence[str], day: str) -> list[MoodEntry]:
        if not person_ids:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(person_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM moods WHERE day = $1 AND person_id IN ({marks})",
                day, *person_ids,
            )
        return [_entry(r) for r in rows]

    async def moods_of(self, person_id: str, since_day: str) -> list[MoodEntry]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM moods WHERE person_id = $1 AND day >= $2"
                " ORDER BY day DESC",
                person_id, since_day,
            )
        return [_entry(r) for r in rows]
