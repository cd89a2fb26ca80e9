"""The directory's reload (preau/server/directory/service.py): what must wait
while rights are read again is told when it starts and when it ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.privacy.school import small_school


async def test_a_reload_is_bracketed_around_every_listener_even_when_it_fails(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with small_school(store_url, tmp_path) as school:
        directory = school.services.directory
        gate = school.services.documents.rooms.gate  # wired by the composition root
        seen: list[str] = []

        async def listener(school_id: str) -> None:
            seen.append(f"listener, gate held: {gate.held}")

        directory.while_reloading(lambda: seen.append("begin"), lambda: seen.append("end"))
        directory.on_change(listener)
        await directory.reload(school.school_id)
        assert seen == ["begin", "listener, gate held: True", "end"]
        assert not gate.held

        async def unreadable(school_id: str) -> None:
            raise ConnectionError("store gone")

        monkeypatch.setattr(directory, "school", unreadable)
        seen.clear()
        with pytest.raises(ConnectionError):
            await directory.reload(school.school_id)
        assert seen == ["begin", "end"]
        assert not gate.held  # relays are never left waiting
