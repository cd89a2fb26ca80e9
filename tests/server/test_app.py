"""The composition root's own work (preau/server/app.py): the demo school."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from preau.server.app import build_services, close_services, seed_demo
from preau.server.settings import Settings


@pytest.mark.postgres
async def test_two_nodes_started_together_seed_the_demo_once(
    postgres_database_url: str, tmp_path: Path
) -> None:
    nodes = [await build_services(Settings(data_dir=tmp_path / name,
                                           store_url=postgres_database_url))
             for name in ("a", "b")]
    try:
        reports = await asyncio.gather(*(seed_demo(node) for node in nodes))
        made = [r for r in reports if r is not None]
        assert len(made) == 1, "one banner, from the node that created the school"
        [report] = made
        assert len(report.created) == 35
        assert await nodes[0].store.school_ids() == [report.school.id]
        # The codes printed are those that work: the other node did not replace them.
        seeder = reports.index(report)
        written = (tmp_path / "ab"[seeder] / "demo-accounts.txt").read_text()
        assert not (tmp_path / "ab"[1 - seeder] / "demo-accounts.txt").exists()
        for account in report.created:
            assert account.activation_code in written
        for account in report.created[::17]:  # (three: a password hash each)
            session = await nodes[1 - seeder].auth.activate(
                account.account.login, account.activation_code, "un mot de passe solide 42",
                "127.0.0.1", "bearer")
            assert session is not None
        assert await seed_demo(nodes[0]) is None  # and never again
    finally:
        for node in nodes:
            await close_services(node)
