"""The access journal: written by staff reads, paged without losing entries
that share a millisecond, readable by the school's admins only."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.privacy.service import VIEW_AUDIT, VIEW_HELD
from tests.server.privacy.school import small_school


async def test_pages_keep_every_entry(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        privacy, clock = school.services.privacy, school.clock
        claire, anne = await school.member("Claire"), await school.member("Anne")
        clock.now -= 1000
        for room in ("r1", "r2", "r3"):
            await privacy.viewed(claire, VIEW_HELD, room)
        clock.now += 1000
        for _ in range(5):
            await privacy.viewed(anne, VIEW_AUDIT, "target=x")

        pages, before = [], None
        while True:
            page = await privacy.journal(anne, school.school_id, before, 2)
            pages.append([(e["view"], e["subject"]) for e in page["entries"]])
            if page["next"] is None:
                break
            before = page["next"]
        entries = [e for p in pages for e in p]
        # The journal's own reads are journaled too (one per page read).
        reads = [e for e in entries if e[0] == "privacy.journal"]
        others = [e for e in entries if e[0] != "privacy.journal"]
        assert sorted(others) == sorted(
            [(VIEW_AUDIT, "target=x")] * 5 + [(VIEW_HELD, r) for r in ("r1", "r2", "r3")]
        )
        assert len(reads) >= 1
        names = {e["actor"]["name"] for e in page["entries"]}
        assert names <= {"Claire Durand", "Anne Petit"}


async def test_pupils_and_parents_reading_their_own_are_not_journaled(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        privacy = school.services.privacy
        await privacy.viewed(await school.member("Léa"), VIEW_HELD, "room")
        await privacy.viewed(await school.member("Paul"), VIEW_HELD, "room")
        assert await school.rows("SELECT id FROM access_journal") == []
        for outsider in ("Léa", "Claire", "Paul"):
            with pytest.raises(PreauError) as caught:
                await privacy.retention_status(await school.member(outsider), school.school_id)
            assert caught.value.code is ErrorCode.FORBIDDEN
