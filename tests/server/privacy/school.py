"""A small school on real services (either store), for the data-protection tests.

Léa, Hugo and Chloé are pupils of 5A; Paul is Léa's father; Claire teaches
5A; Anne is staff and the school's admin. Tests read and write through the
services, as the HTTP and WebSocket layers do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preau.server.app import build_services, close_services
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Member
from preau.server.services import Services
from preau.server.settings import Settings
from preau.server.store import SessionRecord
from tests.server.settle import notify_before_returning

# 2026-03-10 11:00 UTC: noon in Paris, inside the default quiet-hours window.
NOON = 1_773_140_400_000
DAY_MS = 86_400_000

CSV = """id;profile;last_name;first_name;classes;parent_of;admin
E1;pupil;Martin;Léa;5A;;
E2;pupil;Bernard;Hugo;5A;;
E3;pupil;Dubois;Chloé;5A;;
P1;parent;Martin;Paul;;E1;
T1;teacher;Durand;Claire;5A;;
S1;staff;Petit;Anne;;;yes
"""


class FakeClock:
    def __init__(self, now_ms: int = NOON) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@dataclass
class School:
    services: Services
    clock: FakeClock
    school_id: str
    ids: dict[str, str]  # first name → person id
    logins: dict[str, str]
    txns: int = 0

    async def member(self, first_name: str) -> Member:
        member = await self.services.directory.member(self.ids[first_name])
        assert member is not None, first_name
        return member

    async def class_room(self, name: str = "5A") -> str:
        view = await self.services.directory.school(self.school_id)
        assert view is not None
        return next(r.id for r in view.rooms.values() if r.name == name)

    async def say(self, first_name: str, room: str, body: str) -> int:
        self.txns += 1
        result = await self.services.chat.send(
            await self.member(first_name), room, f"txn-{self.txns}", body
        )
        assert result.message is not None, "posted, not held or scheduled"
        return result.message.seq

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.services.store.engine.transaction(readonly=True) as tx:
            return [dict(r) for r in await tx.fetch(sql, *args)]

    async def dump(self) -> str:
        """Every row of every table, as one string (to look for an identity)."""
        from preau.server.store.privacy import PrivacyStore

        pstore = PrivacyStore(self.services.store.engine)
        out = []
        for table in sorted(await pstore.table_names()):
            if table.startswith(("sqlite_", "pg_")):
                continue
            for row in await self.rows(f"SELECT * FROM {table}"):
                out.append(f"{table}: {row}")
        return "\n".join(out)


def settings_for(store_url: str, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, store_url=store_url, seed_demo=False, sends_per_s=1000,
        sends_burst=1000, node_id=kw.pop("node_id", "node-test"), **kw,
    )


@contextlib.asynccontextmanager
async def small_school(
    store_url: str, tmp_path: Path, clock: FakeClock | None = None, *, settle: bool = True,
    **settings: Any
) -> AsyncIterator[School]:
    """``settle`` False: a post does not wait for its notifications (as on a
    server; tests/server/settle.py)."""
    clock = clock or FakeClock()
    services = await build_services(settings_for(store_url, tmp_path, **settings), clock=clock)
    if settle:
        notify_before_returning(services)
    try:
        report = await import_directory(
            services.store, parse_csv(CSV), uai="0751234A", school_name="Collège Hugo",
            timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=clock.now_ms(),
        )
        assert not report.errors
        ids = {a.display_name.split()[0]: a.account.person_id for a in report.created}
        logins = {a.display_name.split()[0]: a.account.login for a in report.created}
        for person_id in ids.values():
            await services.store.create_session(SessionRecord(
                "session-" + person_id, person_id, "bearer", clock.now, clock.now,
                clock.now + DAY_MS,
            ))
        yield School(services, clock, report.school.id, ids, logins)
    finally:
        await close_services(services)


@dataclass
class Scene:
    """What ``populate`` wrote: the class room, the seqs and conversations."""

    room: str
    lea_hugo: str  # Léa and Hugo's conversation
    chloe_hugo: str  # Chloé and Hugo's
    reported_seq: int


async def populate(school: School) -> Scene:
    from preau.server.store import AuditAction

    services = school.services
    room = await school.class_room()
    await school.say("Léa", room, "Bonjour la classe")
    await school.say("Hugo", room, "Salut tout le monde")
    await school.say("Chloé", room, "Coucou de Chloé")
    reported = await school.say("Léa", room, "Message à signaler")
    claire, hugo = await school.member("Claire"), await school.member("Hugo")
    await services.moderation.moderate_member(
        claire, room, school.ids["Léa"], AuditAction.MEMBER_MUTE, "calme-toi", duration_s=60
    )
    await services.moderation.report(hugo, room, reported, "pas gentil")
    lea_hugo, _ = await services.chat.open_conversation(
        await school.member("Léa"), [school.ids["Hugo"]]
    )
    await school.say("Léa", lea_hugo.id, "secret de Léa pour Hugo")
    await school.say("Hugo", lea_hugo.id, "réponse de Hugo")
    chloe_hugo, _ = await services.chat.open_conversation(
        await school.member("Chloé"), [school.ids["Hugo"]]
    )
    await school.say("Chloé", chloe_hugo.id, "secret de Chloé")
    await _document(school, room)
    return Scene(room, lea_hugo.id, chloe_hugo.id, reported)


async def _document(school: School, room: str) -> None:
    """A class document Léa made, versioned and edited with Hugo (migration 0007's
    tables, written directly: what the documents service records)."""
    lea, hugo, now = school.ids["Léa"], school.ids["Hugo"], school.clock.now
    async with school.services.store.engine.transaction() as tx:
        class_id = await tx.fetchval("SELECT class_id FROM rooms WHERE id = $1", room)
        await tx.execute(
            "INSERT INTO documents (id, school_id, class_id, title, created_by, created_ms)"
            " VALUES ('doc-volcans', $1, $2, 'Exposé sur les volcans', $3, $4)",
            school.school_id, class_id, lea, now,
        )
        await tx.execute(
            "INSERT INTO document_people (document_id, person_id, role)"
            " VALUES ('doc-volcans', $1, 'editor')", lea,
        )
        await tx.execute(
            "INSERT INTO document_versions (id, document_id, name, state, created_by,"
            " created_ms) VALUES ('v-1', 'doc-volcans', 'brouillon', $1, $2, $3)",
            b"\x00\x00", lea, now,
        )
        # She read the class room, acknowledged Hugo's message, and wrote one
        # that waits for the end of quiet hours (migration 0006).
        await tx.execute(
            "INSERT INTO read_markers (room_id, person_id, seq, at_ms) VALUES ($1, $2, 2, $3)",
            room, lea, now,
        )
        await tx.execute(
            "INSERT INTO message_acks (room_id, seq, person_id, at_ms) VALUES ($1, 2, $2, $3)",
            room, lea, now,
        )
        await tx.execute(
            "INSERT INTO scheduled_messages (id, room_id, sender_id, txn, body, created_ms,"
            " release_ms) VALUES ('sch-1', $1, $2, 'later', 'à demain', $3, $4)",
            room, lea, now, now + 3_600_000,
        )
        # The burst detector paused her account once (migration 0010).
        await tx.execute(
            "INSERT INTO paused_accounts (person_id, school_id, paused_ms, reason)"
            " VALUES ($1, $2, $3, 'burst')", lea, school.school_id, now,
        )
        await tx.executemany(
            "INSERT INTO document_edits (document_id, person_id, at_ms)"
            " VALUES ('doc-volcans', $1, $2)",
            [(lea, now), (hugo, now), (lea, now + 60_000)],
        )


async def export_json(school: School, viewer: str, person: str) -> tuple[dict[str, Any], bytes]:
    """The export as the viewer downloads it, parsed, and its raw bytes."""
    import orjson

    chunks = await school.services.privacy.export(await school.member(viewer), person)
    raw = b"".join([chunk async for chunk in chunks])
    parsed: dict[str, Any] = orjson.loads(raw)
    return parsed, raw


@contextlib.asynccontextmanager
async def restarted(school: School, store_url: str, tmp_path: Path) -> AsyncIterator[School]:
    """Another node (a restart) on the same database, with the same clock."""
    services = notify_before_returning(await build_services(
        settings_for(store_url, tmp_path, node_id="node-restarted"), clock=school.clock
    ))
    try:
        yield School(services, school.clock, school.school_id, school.ids, school.logins)
    finally:
        await close_services(services)
