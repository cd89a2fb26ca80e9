"""The retention job on three real ``preau serve`` processes sharing one
PostgreSQL, started together: each tries a pass at start-up, one runs it, the
others skip, and the expired rows are deleted by that one pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.store.factory import open_store
from tests.multinode.cluster import wait_until
from tests.server.live import LiveServer
from tests.server.privacy.school import CSV, DAY_MS

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

OLD_MESSAGES = 300


async def test_three_processes_one_pass(postgres_database_url: str, tmp_path: Path) -> None:
    store = await open_store(postgres_database_url)
    try:
        await store.migrate()
        report = await import_directory(
            store, parse_csv(CSV), uai="0751234A", school_name="Collège Hugo",
            timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=1_000 * DAY_MS,
        )
        view = await store.load_school(report.school.id)
        assert view is not None
        room = next(iter(view.rooms))
        author = report.created[0].account.person_id
        async with store.engine.transaction() as tx:
            # Written two years ago: past the default 365-day retention.
            await tx.executemany(
                "INSERT INTO messages (room_id, seq, id, sender_id, txn, body, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(room, i + 1, f"m{i}", author, f"t{i}", "vieux message", 1_000 * DAY_MS)
                 for i in range(OLD_MESSAGES)],
            )

        env = {"PREAU_STORE_URL": postgres_database_url, "PREAU_SEED_DEMO": "false"}
        nodes = [LiveServer(tmp_path / f"node{i}", {**env, "PREAU_NODE_ID": f"ret-{i}"})
                 for i in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda node: node.start(), nodes))
        try:
            async def done() -> bool:
                async with store.engine.transaction(readonly=True) as tx:
                    return bool(await tx.fetchval(
                        "SELECT COALESCE(MAX(last_done_ms), 0) FROM jobs WHERE name = 'retention'"
                    ))

            await wait_until(done, timeout=30, interval=0.1)
            # The other nodes tried before, during or after that pass: they
            # found it taken or not due. Had a second pass run, it would have
            # found nothing left and recorded 0 messages.
            async with store.engine.transaction(readonly=True) as tx:
                job = await tx.fetchrow(
                    "SELECT holder, last_result FROM jobs WHERE name = 'retention'")
                left = await tx.fetchval("SELECT COUNT(*) FROM messages")
            assert job is not None
            assert job["holder"] in {"ret-0", "ret-1", "ret-2"}
            assert orjson.loads(job["last_result"])["messages"] == OLD_MESSAGES
            assert left == 0
        finally:
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda node: node.stop(), nodes))
    finally:
        await store.close()
