"""The retention job: what outlived its period goes, on one node per pass.

Three nodes share one database (PostgreSQL, as in production, and SQLite)
and run the job at the same instant: one runs it, the others skip, and
every row is deleted exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from preau.server.app import build_services, close_services
from preau.server.privacy.retention import JOB_NAME
from preau.server.services import Services
from tests.server.privacy.school import (
    DAY_MS,
    School,
    populate,
    settings_for,
    small_school,
)


@contextlib.asynccontextmanager
async def more_nodes(
    school: School, store_url: str, tmp_path: Path, count: int
) -> AsyncIterator[list[Services]]:
    nodes: list[Services] = []
    try:
        for i in range(count):
            nodes.append(await build_services(
                settings_for(store_url, tmp_path, node_id=f"node-{i + 2}"), clock=school.clock
            ))
        yield nodes
    finally:
        for node in nodes:
            await close_services(node)


async def _count(school: School, table: str) -> int:
    [row] = await school.rows(f"SELECT COUNT(*) AS n FROM {table}")
    return int(row["n"])


async def test_three_nodes_at_once_delete_exactly_once(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        await populate(school)
        chloe = school.ids["Chloé"]
        # Chloé left at the last rollover: closed now, erased 90 days later.
        await school.services.privacy.store.close_departed(
            school.school_id, {"E1", "E2", "P1", "T1", "S1"}, school.clock.now
        )
        messages = await _count(school, "messages")
        audit = await _count(school, "audit_log")
        assert messages > 0
        assert audit > 0

        school.clock.now += 400 * DAY_MS  # past every period
        async with more_nodes(school, store_url, tmp_path, 2) as others:
            nodes = [school.services, *others]
            results = await asyncio.gather(*(n.privacy.retention.run_once() for n in nodes))
            ran = [(n.settings.node_id, r) for n, r in zip(nodes, results, strict=True) if r]
            assert len(ran) == 1, results
            winner, result = ran[0]
            # The winner deleted everything that was due; nobody else did anything.
            assert result["messages"] >= messages
            assert result["moderation"] >= audit
            assert result["erasures_started"] == 1
            assert result["erasures_run"] == 1
            assert await _count(school, "messages") == 0
            assert await _count(school, "audit_log") == 0
            assert await _count(school, "erasure_tombstones") == 1
            assert await school.services.privacy.store.person(chloe) is None
            state = await school.services.privacy.store.job_state(JOB_NAME)
            assert state is not None
            assert state["holder"] == winner
            assert state["last_result"] == result

            # Not due again until the period has passed: everyone skips.
            again = await asyncio.gather(*(n.privacy.retention.run_once() for n in nodes))
            assert again == [None, None, None]
            school.clock.now += int(school.services.settings.retention_every_s * 1000)
            third = await asyncio.gather(*(n.privacy.retention.run_once() for n in nodes))
            assert len([r for r in third if r is not None]) == 1


async def test_what_is_within_its_period_stays(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path, message_retention_days=30) as school:
        scene = await populate(school)
        school.clock.now += 31 * DAY_MS
        recent = await school.say("Hugo", scene.room, "message récent")
        result = await school.services.privacy.retention.run_once()
        assert result is not None
        rows = await school.rows("SELECT seq, body FROM messages WHERE room_id = $1",
                                 scene.room)
        assert rows == [{"seq": recent, "body": "message récent"}]
        # The moderation audit has its own, longer period (365 days here).
        assert await _count(school, "audit_log") == 1
        # Open accounts are untouched.
        assert await school.services.privacy.store.person(school.ids["Léa"]) is not None


async def test_a_dead_holder_blocks_only_until_its_lease_ends(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        store, clock = school.services.privacy.store, school.clock
        settings = school.services.settings
        lease_ms = int(settings.retention_lease_s * 1000)
        every_ms = int(settings.retention_every_s * 1000)
        # A node claimed the pass and died.
        assert await store.claim_job(JOB_NAME, "ghost", clock.now, lease_ms, every_ms)
        assert await school.services.privacy.retention.run_once() is None
        clock.now += lease_ms
        assert await school.services.privacy.retention.run_once() is not None


async def test_a_failed_pass_gives_the_lease_back(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        job = school.services.privacy.retention

        async def broken() -> int:
            raise RuntimeError("database went away")

        healthy = job._purge_moderation
        job._purge_moderation = broken
        with pytest.raises(RuntimeError):
            await job.run_once()
        job._purge_moderation = healthy
        # Released: the next try (this node or another) runs at once.
        assert await job.run_once() is not None


async def test_last_years_rooms_go_when_their_period_ends(
    store_url: str, tmp_path: Path
) -> None:
    from preau.server.directory.csv_import import parse_csv
    from preau.server.directory.importer import Rollover, import_directory
    from tests.server.privacy.school import CSV

    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        report = await import_directory(
            school.services.store, parse_csv(CSV), uai="0751234A", school_name="Collège Hugo",
            timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=school.clock.now,
            rollover=Rollover("2025-2026", 30),
        )
        assert report.archived_rooms == 1
        [old] = await school.rows("SELECT name, mode, class_id FROM rooms WHERE id = $1",
                                  scene.room)
        assert (old["name"], old["mode"]) == ("5A (2025-2026)", "read_only")

        school.clock.now += 29 * DAY_MS
        first = await school.services.privacy.retention.run_once()
        assert first is not None
        assert first["archived_rooms"] == 0
        school.clock.now += 2 * DAY_MS
        second = await school.services.privacy.retention.run_once()
        assert second is not None
        assert second["archived_rooms"] == 1
        assert await school.rows("SELECT id FROM rooms WHERE id = $1", scene.room) == []
        assert await school.rows("SELECT seq FROM messages WHERE room_id = $1", scene.room) == []
        # The class's document outlives the room: its class row stays for it.
        assert await school.rows("SELECT id FROM classes WHERE id = $1", old["class_id"]) != []
        # This year's 5A and its room are untouched.
        assert [r["name"] for r in await school.rows(
            "SELECT name FROM rooms WHERE kind = 'class'")] == ["5A"]


async def test_of_nodes_racing_for_a_pass_exactly_one_wins_each_time(
    store_url: str, tmp_path: Path
) -> None:
    async with (
        small_school(store_url, tmp_path) as school,
        more_nodes(school, store_url, tmp_path, 2) as others,
    ):
        stores = [n.privacy.store for n in (school.services, *others)]
        every, lease = 60_000, 30_000
        now = school.clock.now
        for round_ in range(20):
            now += every
            claims = await asyncio.gather(*(
                s.claim_job("race", f"node-{i}", now, lease, every)
                for i, s in enumerate(stores)
            ))
            assert claims.count(True) == 1, (round_, claims)
            winner = claims.index(True)
            await stores[winner].finish_job("race", f"node-{winner}", now, {"round": round_})


async def test_nothing_outlives_its_period_not_even_what_names_no_message(
    store_url: str, tmp_path: Path
) -> None:
    """Found by an outside probe of every table: private conversations (who
    talked with whom, when, how much) outlived their messages; sent mails
    with their unsubscribe links, e-mail changes, recovery links and single
    sign-on logins under way outlived their expiry until someone used the
    same flow again. A conversation still in use stays."""
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        now, lea, paul = school.clock.now, school.ids["Léa"], school.ids["Paul"]
        async with school.services.store.engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO email_jobs (id, notification_id, person_id, school_id, kind,"
                " status, next_ms, unsubscribe_token, created_ms, done_ms)"
                " VALUES ('mail-1', 'n-1', $1, $2, 'message', 'sent', $3, 'unsub-1', $3, $3)",
                paul, school.school_id, now)
            await tx.execute(
                "INSERT INTO email_changes (token_hash, person_id, school_id, email, created_ms,"
                " expires_ms) VALUES ('change-1', $1, $2, 'paul@example.org', $3, $4)",
                paul, school.school_id, now, now + DAY_MS)
            await tx.execute(
                "INSERT INTO password_resets (token_hash, person_id, created_ms, expires_ms)"
                " VALUES ('reset-1', $1, $2, $3)", paul, now, now + 1_800_000)
            await tx.execute(
                "INSERT INTO sso_pending (state_hash, provider, nonce, verifier, expires_ms)"
                " VALUES ('state-1', 'idp', 'n', 'v', $1)", now + 600_000)
            await tx.execute(
                "INSERT INTO sso_logout_tokens (jti_hash, expires_ms) VALUES ('jti-1', $1)",
                now + 600_000)

        school.clock.now += 400 * DAY_MS  # past every period
        kept, _ = await school.services.chat.open_conversation(
            await school.member("Paul"), [lea])
        await school.say("Paul", kept.id, "bonne rentrée")
        result = await school.services.privacy.retention.run_once()
        assert result is not None
        assert result["conversations"] == 2  # Léa and Hugo's, Chloé and Hugo's
        assert result["expired_links"] == 4  # the mail went with the notifications
        private = await school.rows("SELECT id FROM rooms WHERE kind = 'private'")
        assert private == [{"id": kept.id}]
        for table in ("room_members_explicit", "read_markers", "room_members"):
            gone = await school.rows(f"SELECT room_id FROM {table} WHERE room_id IN ($1, $2)",
                                     scene.lea_hugo, scene.chloe_hugo)
            assert gone == [], table
        for table in ("email_jobs", "email_changes", "password_resets", "sso_pending",
                      "sso_logout_tokens"):
            assert await _count(school, table) == 0, table
        # Every path answers for it as for a conversation that never was.
        listed = await school.services.directory.conversations_of(await school.member("Léa"))
        assert [room.id for room in listed] == [kept.id]


async def test_a_restores_replaced_database_is_deleted_after_a_week(tmp_path: Path) -> None:
    """``preau restore`` sets the replaced SQLite database aside; it holds
    whatever was erased since, so the retention pass deletes it a week on."""
    import os

    from preau.server.store.backup import RESTORE_COPY_DAYS

    store_url = f"sqlite:///{tmp_path / 'preau.db'}"
    async with small_school(store_url, tmp_path) as school:
        old = tmp_path / "preau.db.before-restore-20261201-101010"
        recent = tmp_path / "preau.db.before-restore-20261207-101010"
        other = tmp_path / "notes.before-restore-20261201-101010"
        for path in (old, recent, other):
            path.write_bytes(b"lea.martin")
        now_s = school.clock.now / 1000
        os.utime(old, (now_s - RESTORE_COPY_DAYS * 86_400 - 1,) * 2)
        os.utime(other, (now_s - RESTORE_COPY_DAYS * 86_400 - 1,) * 2)
        os.utime(recent, (now_s - 3600,) * 2)
        result = await school.services.privacy.retention.run_once()
        assert result is not None
        assert result["restore_copies"] == 1
        assert not old.exists()
        assert recent.exists()
        assert other.exists()  # not a copy of this database
