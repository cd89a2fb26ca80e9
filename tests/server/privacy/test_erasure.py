"""Erasure: after it, no query, history replay, search or export returns the
person's identity; private messages go, shared contributions stay anonymised
(or go, when asked); a tombstone says it happened; it is idempotent, and an
erasure interrupted half-way completes when the next node resumes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.auth.service import Session
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.connection import Connection
from preau.server.ratelimit.buckets import TokenBucket
from preau.server.store.privacy import ErasureJob
from tests.server.privacy.school import (
    Scene,
    School,
    export_json,
    populate,
    restarted,
    small_school,
)
from tests.server.twonodes import Recorder


def _connect(school: School, person_id: str, member: object) -> Connection:
    conn = Connection(
        Recorder(), Session("session-" + person_id, person_id, "bearer", 2**62),
        member,  # type: ignore[arg-type]
        queue_limit=100, ops_bucket=TokenBucket(100, 100), can_abort=False,
    )
    school.services.hub.register(conn)
    return conn


async def _assert_erased(school: School, scene: Scene, lea: str, login: str, *,
                         contributions_kept: bool) -> None:
    services = school.services
    # The store: not a row, in any table, holds her id, login or name.
    dump = await school.dump()
    for trace in (lea, login, "Léa", "'external_id': 'E1'"):
        assert trace not in dump, trace
    # Caches and search: gone from the directory of this node.
    assert await services.directory.member(lea) is None
    view = await services.directory.school(school.school_id)
    assert view is not None
    assert all("Léa" not in m.display_name for m in view.members.values())

    hugo = await school.member("Hugo")
    history = await services.chat.history(hugo, scene.room, before=None, after=None, limit=50)
    bodies = [m.get("body") for m in history if m["ev"] == "chat.message"]
    if contributions_kept:
        assert "Bonjour la classe" in bodies
        assert "Message à signaler" in bodies
        authors = {m["sender"]["id"] for m in history if m.get("body") == "Bonjour la classe"}
        assert len(authors) == 1
        assert lea not in authors
        assert all(m["sender"]["name"] == "" for m in history
                   if m.get("body") == "Bonjour la classe")
    else:
        assert "Bonjour la classe" not in bodies
        assert "Message à signaler" not in bodies
    assert "Salut tout le monde" in bodies  # the others' messages stay
    assert all(lea not in str(m) for m in history)

    # Her private message went; Hugo keeps his, in a conversation now his alone.
    private = await services.chat.history(hugo, scene.lea_hugo, before=None, after=None,
                                          limit=50)
    assert [m.get("body") for m in private] == ["réponse de Hugo"]
    [conversation] = [r for r in await services.chat.conversations(hugo)
                      if r.id == scene.lea_hugo]
    assert conversation.name == "Hugo Bernard"
    assert conversation.members == frozenset({school.ids["Hugo"]})
    # What told Hugo of her private message (and of her opening it) went with it.
    told = await school.rows("SELECT kind, seq FROM notifications WHERE person_id = $1"
                             " AND room_id = $2", school.ids["Hugo"], scene.lea_hugo)
    assert told == []

    _, raw = await export_json(school, "Hugo", "me")
    assert b"L\xc3\xa9a" not in raw
    assert lea.encode() not in raw

    # The class's document stays, made and edited by a pseudonym now.
    [document] = await school.rows("SELECT created_by FROM documents")
    edits = await school.rows("SELECT person_id FROM document_edits ORDER BY at_ms")
    assert [e["person_id"] for e in edits].count(school.ids["Hugo"]) == 1
    assert {e["person_id"] for e in edits} == {school.ids["Hugo"], document["created_by"]}
    assert await school.rows("SELECT person_id FROM document_people") == []

    tombstones = await services.privacy.store.tombstones(school.school_id)
    assert [(t["reason"], t["profile"]) for t in tombstones] == [("request", "pupil")]
    assert await services.privacy.store.pending_erasures() == []


async def test_erasure_removes_the_identity_everywhere(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        lea, login = school.ids["Léa"], school.logins["Léa"]
        conn = _connect(school, lea, await school.member("Léa"))
        paul = await school.member("Paul")

        out = await school.services.privacy.request_erasure(paul, lea, False)
        assert out == {"erased": True, "delete_contributions": False}

        assert conn.closed  # her socket was closed at once
        await _assert_erased(school, scene, lea, login, contributions_kept=True)
        # Idempotent: she is gone, asking again finds nobody.
        with pytest.raises(PreauError) as caught:
            await school.services.privacy.request_erasure(paul, lea, False)
        assert caught.value.code is ErrorCode.NOT_FOUND
        # Login is refused like any unknown login.
        assert await school.services.store.credentials_by_login(login) is None


async def test_erasure_with_deletion_of_contributions(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        lea, login = school.ids["Léa"], school.logins["Léa"]
        await school.services.privacy.request_erasure(await school.member("Léa"), "me", True)
        await _assert_erased(school, scene, lea, login, contributions_kept=False)
        # The report on her deleted message went with it.
        assert await school.rows("SELECT id FROM reports") == []


async def test_only_herself_her_parents_and_admins_may_erase(
    store_url: str, tmp_path: Path
) -> None:
    async with small_school(store_url, tmp_path) as school:
        for viewer in ("Hugo", "Claire"):
            with pytest.raises(PreauError) as caught:
                await school.services.privacy.request_erasure(
                    await school.member(viewer), school.ids["Léa"], False
                )
            assert caught.value.code is ErrorCode.NOT_FOUND
        assert await school.services.store.credentials_by_login(school.logins["Léa"])


async def test_another_node_forgets_her_once_it_reloads(store_url: str, tmp_path: Path) -> None:
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        lea = school.ids["Léa"]
        async with restarted(school, store_url, tmp_path) as other:
            # The other node has her, and her conversation, in its caches.
            assert await other.services.directory.member(lea) is not None
            cached = await other.services.directory.room(scene.lea_hugo)
            assert cached is not None
            assert lea in cached.members

            await school.services.privacy.request_erasure(await school.member("Anne"), lea,
                                                          False)
            # What its directory watch does every PREAU_DIRECTORY_POLL_S.
            assert await other.services.directory.refresh_changed() == [school.school_id]
            assert await other.services.directory.member(lea) is None
            room = await other.services.directory.room(scene.lea_hugo)
            assert room is not None
            assert room.members == frozenset({school.ids["Hugo"]})
            assert room.name == "Hugo Bernard"


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_after", ["close", "private", "contributions", "identity"])
async def test_an_interrupted_erasure_completes_on_restart(
    store_url: str, tmp_path: Path, crash_after: str
) -> None:
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        lea, login = school.ids["Léa"], school.logins["Léa"]
        runner = school.services.privacy.erasures
        done: list[str] = []

        async def crash(job: ErasureJob, step: str) -> None:
            done.append(step)
            if step == crash_after:
                raise Crash(step)

        runner.after_step = crash
        # The request is answered "unavailable": recorded, to be completed.
        with pytest.raises(PreauError) as caught:
            await school.services.privacy.request_erasure(await school.member("Anne"), lea,
                                                          False)
        assert caught.value.code is ErrorCode.UNAVAILABLE
        assert done[-1] == crash_after
        [pending] = await school.services.privacy.store.pending_erasures()
        assert pending.person_id == lea
        assert pending.step != "close"

        # "Restart": a fresh node on the same database finishes the job in its
        # retention pass, from the step after the crash.
        async with restarted(school, store_url, tmp_path) as fresh:
            result = await fresh.services.privacy.retention.run_once()
            assert result is not None
            assert result["erasures_run"] == 1
            await _assert_erased(fresh, scene, lea, login, contributions_kept=True)


async def test_an_erasure_cancelled_between_steps_completes_on_restart(
    store_url: str, tmp_path: Path
) -> None:
    import asyncio

    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        lea, login = school.ids["Léa"], school.logins["Léa"]
        stopped = asyncio.Event()

        async def stall(job: ErasureJob, step: str) -> None:
            if step == "private":
                stopped.set()
                await asyncio.Event().wait()  # the node stops here, for good

        school.services.privacy.erasures.after_step = stall
        task = asyncio.create_task(school.services.privacy.request_erasure(
            await school.member("Paul"), lea, False))
        await asyncio.wait_for(stopped.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [pending] = await school.services.privacy.store.pending_erasures()
        assert pending.step == "contributions"

        async with restarted(school, store_url, tmp_path) as fresh:
            assert await fresh.services.privacy.erasures.resume_pending() == 1
            await _assert_erased(fresh, scene, lea, login, contributions_kept=True)


async def test_an_erased_pupil_is_left_in_no_file_of_the_database(tmp_path: Path) -> None:
    """Deleted rows leave no copy in SQLite's files: freed space is zeroed
    (secure_delete) and the write-ahead log, which keeps the pages as they
    were, is copied in and emptied once the erasure ends (an outside probe
    found her login in the log right after an erasure)."""
    # SQLite's files (on PostgreSQL autovacuum reclaims deleted rows).
    path = tmp_path / "erasure.sqlite3"
    store_url = f"sqlite:///{path}"
    async with small_school(store_url, tmp_path) as school:
        await populate(school)
        lea, login = school.ids["Léa"], school.logins["Léa"]
        await school.services.privacy.request_erasure(await school.member("Paul"), lea, False)
        files = [f for f in (path, path.with_name(path.name + "-wal")) if f.exists()]
        assert files
        for file in files:
            data = file.read_bytes()
            for trace in (login, "secret de Léa pour Hugo"):
                assert trace.encode() not in data, (file.name, trace)
