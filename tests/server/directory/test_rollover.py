"""School-year rollover (``preau import --rollover``) on a school of 1,000 pupils:
everyone who stays moves to their new class, those who left are closed (their
sessions end, their sockets close, the erasure clock starts), and last year's
rooms are kept read-only, apart from this year's fresh ones."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from preau.server.app import build_services, close_services
from preau.server.auth.service import Session
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import (
    ImportReport,
    Rollover,
    ended_school_year,
    import_directory,
)
from preau.server.live.connection import CloseCode, Connection
from preau.server.ratelimit.buckets import TokenBucket
from preau.server.services import Services
from preau.server.store import SessionRecord
from tests.server.privacy.school import DAY_MS, NOON, FakeClock, settings_for
from tests.server.twonodes import Recorder

UAI = "0759999R"
LEVELS = ["6", "5", "4", "3"]
LETTERS = "ABCDEFGHIJ"
PER_CLASS = 25
HEADER = "id;profile;last_name;first_name;classes;parent_of;admin"


def _class(level: int, letter: int) -> str:
    return f"{LEVELS[level]}{LETTERS[letter]}"


def year_one() -> tuple[str, dict[str, str]]:
    """1,000 pupils in 40 classes, a parent for each of the first 200, 40 teachers."""
    rows, where = [HEADER], {}
    n = 0
    for level in range(4):
        for letter in range(10):
            for _ in range(PER_CLASS):
                n += 1
                pupil = f"E{n:04d}"
                where[pupil] = _class(level, letter)
                rows.append(f"{pupil};pupil;Nom{n};Élève{n};{where[pupil]};;")
                if n <= 200:
                    rows.append(f"P{n:04d};parent;Nom{n};Parent{n};;{pupil};")
    for t in range(40):
        rows.append(f"T{t:03d};teacher;Prof{t};Ens{t};{_class(t // 10, t % 10)};;")
    rows.append("S001;staff;Petit;Anne;;;yes")
    return "\n".join(rows) + "\n", where


def year_two(before: dict[str, str]) -> tuple[str, dict[str, str], set[str]]:
    """3e pupils leave, the others move up a level (and shift a letter), 250
    new 6e pupils arrive; parents of departed pupils are not listed."""
    rows, where, left = [HEADER], {}, set()
    for pupil, klass in before.items():
        level, letter = LEVELS.index(klass[0]), LETTERS.index(klass[1])
        if level == 3:
            left.add(pupil)
            continue
        where[pupil] = _class(level + 1, (letter + 1) % 10)
        n = int(pupil[1:])
        rows.append(f"{pupil};pupil;Nom{n};Élève{n};{where[pupil]};;")
        if n <= 200:
            rows.append(f"P{n:04d};parent;Nom{n};Parent{n};;{pupil};")
    for k in range(250):
        pupil = f"N{k:04d}"
        where[pupil] = _class(0, k % 10)
        rows.append(f"{pupil};pupil;Neuf{k};Nouveau{k};{where[pupil]};;")
    for t in range(40):
        rows.append(f"T{t:03d};teacher;Prof{t};Ens{t};{_class(t // 10, t % 10)};;")
    rows.append("S001;staff;Petit;Anne;;;yes")
    return "\n".join(rows) + "\n", where, left


@contextlib.asynccontextmanager
async def node(store_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    services = await build_services(settings_for(store_url, tmp_path), clock=clock)
    try:
        yield services
    finally:
        await close_services(services)


async def _import(services: Services, text: str, clock: FakeClock,
                  rollover: Rollover | None = None) -> ImportReport:
    return await import_directory(
        services.store, parse_csv(text), uai=UAI, school_name="Collège Jean Moulin",
        timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=clock.now, rollover=rollover,
    )


async def test_rollover_of_a_thousand_pupils(store_url: str, tmp_path: Path) -> None:
    clock = FakeClock(NOON)
    async with node(store_url, tmp_path, clock) as services:
        text, before = year_one()
        first = await _import(services, text, clock)
        assert not first.errors
        school_id = first.school.id
        ids = {a.account.external_id: a.account.person_id for a in first.created}
        old = await services.store.load_school(school_id)
        assert old is not None
        old_rooms = {r.name: r.id for r in old.rooms.values()}

        # A departed pupil has a session and an open socket on this node.
        gone_pupil = ids["E0999"]
        await services.store.create_session(SessionRecord(
            "s-gone", gone_pupil, "bearer", clock.now, clock.now, clock.now + DAY_MS))
        await services.directory.school(school_id)
        conn = Connection(
            Recorder(), Session("s-gone", gone_pupil, "bearer", 2**62),
            (await services.directory.member(gone_pupil)),  # type: ignore[arg-type]
            queue_limit=100, ops_bucket=TokenBucket(100, 100), can_abort=False,
        )
        services.hub.register(conn)

        clock.now += 150 * DAY_MS  # the summer after
        text2, after, left = year_two(before)
        report = await _import(services, text2, clock, Rollover("2025-2026", 60))
        assert not report.errors
        assert len(report.created) == 250
        assert report.archived_rooms == 40
        departed = {ids[p] for p in left} | {ids[f"P{int(p[1:]):04d}"]
                                              for p in left if int(p[1:]) <= 200}
        assert set(report.closed) == departed
        assert "s-gone" in report.revoked_sessions

        # What every node does when it notices the new directory version.
        await services.directory.refresh_changed()
        assert conn.close_code == CloseCode.ACCOUNT_CLOSED

        view = await services.store.load_school(school_id)
        assert view is not None
        ids.update({a.account.external_id: a.account.person_id for a in report.created})
        by_name = {c.name: c.id for c in view.classes.values()}
        # Everyone who stays is in exactly their new class, a new one.
        for pupil, klass in after.items():
            member = view.members[ids[pupil]]
            assert member.classes == frozenset({by_name[klass]}), pupil
        assert len(after) == 1000
        # Those who left are closed, out of the directory, with no class.
        assert all(pid not in view.people for pid in departed)
        async with services.store.engine.transaction(readonly=True) as tx:
            closed = await tx.fetch(
                "SELECT id, active, closed_ms FROM people WHERE closed_ms IS NOT NULL")
            revoked = await tx.fetchval("SELECT revoked FROM sessions WHERE token_hash = 's-gone'")
            stale = await tx.fetchval(
                "SELECT COUNT(*) FROM class_members WHERE person_id = $1", gone_pupil)
            archived = await tx.fetch(
                "SELECT r.id, r.name, r.mode, r.last_seq, a.keep_until_ms FROM rooms r"
                " JOIN archived_rooms a ON a.room_id = r.id")
        assert {r["id"] for r in closed} == departed
        assert all(r["active"] == 0 and r["closed_ms"] == clock.now for r in closed)
        assert revoked == 1
        assert stale == 0
        # Last year's rooms: renamed, read-only, kept for the chosen period.
        assert {r["id"] for r in archived} == set(old_rooms.values())
        assert {r["name"] for r in archived} == {f"{n} (2025-2026)" for n in old_rooms}
        assert {r["mode"] for r in archived} == {"read_only"}
        assert {r["keep_until_ms"] for r in archived} == {clock.now + 60 * DAY_MS}
        # This year's rooms are new, under the same names.
        new_rooms = {r.name: r.id for r in view.rooms.values() if "(" not in r.name}
        assert set(new_rooms) == set(old_rooms)
        assert not set(new_rooms.values()) & set(old_rooms.values())

        # Running the same rollover again changes nothing.
        again = await _import(services, text2, clock, Rollover("2025-2026", 60))
        assert (again.archived_rooms, again.closed, again.created) == (0, [], [])
        view2 = await services.store.load_school(school_id)
        assert view2 is not None
        assert {c.name for c in view2.classes.values()} == {c.name for c in view.classes.values()}


async def test_a_rollover_file_with_a_bad_row_is_refused_whole(
    store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(NOON)
    small = f"{HEADER}\nE1;pupil;Martin;Léa;6A;;\nE2;pupil;Bernard;Hugo;6A;;\n"
    async with node(store_url, tmp_path, clock) as services:
        await _import(services, small, clock)
        broken = f"{HEADER}\nE1;pupil;Martin;Léa;5A;;\nE2;pupil;Bernard;;5A;;\n"
        report = await _import(services, broken, clock, Rollover("2025-2026", 30))
        assert [e.line for e in report.errors] == [3]
        assert (report.closed, report.archived_rooms) == ([], 0)
        view = await services.store.load_school(report.school.id)
        assert view is not None
        assert len(view.people) == 2
        assert {c.name for c in view.classes.values()} == {"6A"}


async def test_a_pupil_who_comes_back_is_reopened(store_url: str, tmp_path: Path) -> None:
    clock = FakeClock(NOON)
    both = f"{HEADER}\nE1;pupil;Martin;Léa;6A;;\nE2;pupil;Bernard;Hugo;6A;;\n"
    async with node(store_url, tmp_path, clock) as services:
        first = await _import(services, both, clock)
        hugo = next(a.account.person_id for a in first.created if a.account.external_id == "E2")
        only_lea = f"{HEADER}\nE1;pupil;Martin;Léa;5A;;\n"
        closed = await _import(services, only_lea, clock, Rollover("2025-2026", 30))
        assert closed.closed == [hugo]
        # Back in the middle of the year, through an ordinary import.
        back = await _import(services, both.replace("6A", "5A"), clock)
        assert back.closed == []
        view = await services.store.load_school(first.school.id)
        assert view is not None
        assert hugo in view.people


def test_the_label_of_the_year_that_ended() -> None:
    assert ended_school_year(NOON) == "2024-2025"  # March 2026: the year before ended
    assert ended_school_year(NOON + 150 * DAY_MS) == "2025-2026"  # August 2026


async def test_rollover_of_an_unknown_school_is_refused(store_url: str, tmp_path: Path) -> None:
    from preau.server.errors import ErrorCode, PreauError

    clock = FakeClock(NOON)
    async with node(store_url, tmp_path, clock) as services:
        with pytest.raises(PreauError) as caught:
            await _import(services, f"{HEADER}\nE1;pupil;Martin;Léa;6A;;\n", clock,
                          Rollover("2025-2026", 30))
        assert caught.value.code is ErrorCode.BAD_REQUEST
