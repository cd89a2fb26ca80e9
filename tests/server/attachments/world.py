"""A small school on real services (either store) for the attachment tests,
and what they do with it: upload through the service, send, read.

Léa and Hugo (5A), Inès (5B) pupils; Paul is Léa's father, Marc is Inès's;
Claire teaches 5A, Julien 5B; Anne is staff, the school's admin.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preau.server.app import build_services, close_services
from preau.server.attachments.service import AttachmentService
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Member
from preau.server.errors import ErrorCode, PreauError
from preau.server.services import Services
from tests.server.attachments import samples
from tests.server.privacy.school import FakeClock, settings_for

CSV = """id;profile;last_name;first_name;classes;parent_of;admin
E1;pupil;Martin;Léa;5A;;
E2;pupil;Bernard;Hugo;5A;;
E3;pupil;Petit;Inès;5B;;
P1;parent;Martin;Paul;;E1;
P2;parent;Petit;Marc;;E3;
T1;teacher;Durand;Claire;5A;;
T2;teacher;Roux;Julien;5B;;
S1;staff;Blanc;Anne;;;yes
"""
MOVED = CSV.replace("E1;pupil;Martin;Léa;5A;;", "E1;pupil;Martin;Léa;5B;;")


@dataclass
class World:
    services: Services
    clock: FakeClock
    school_id: str
    ids: dict[str, str]
    txns: int = 0

    @property
    def files(self) -> AttachmentService:
        return self.services.attachments

    async def member(self, name: str) -> Member:
        found = await self.services.directory.member(self.ids[name])
        assert found is not None
        return found

    async def upload(self, name: str, content: bytes | None = None,
                     file_name: str = "fiche.pdf", declared: str | None = "application/pdf",
                     length: int | None = -1) -> str:
        data = content if content is not None else samples.pdf()

        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 1000):
                yield data[i:i + 1000]

        found = await self.files.upload(await self.member(name), file_name, declared,
                                        len(data) if length == -1 else length, body())
        return found.id

    async def room(self, name: str) -> str:
        view = await self.services.directory.school(self.school_id)
        assert view is not None
        return next(r.id for r in view.rooms.values() if r.name == name)

    async def send(self, name: str, room: str, ids: tuple[str, ...], body: str = "") -> int:
        self.txns += 1
        result = await self.services.chat.send(await self.member(name), room, f"t{self.txns}",
                                               body, attachments=ids)
        assert result.message is not None
        return result.message.seq

    async def reads_room(self, name: str, room: str) -> bool:
        try:
            await self.services.chat.history(await self.member(name), room, before=None,
                                             after=None, limit=1)
        except PreauError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            return False
        return True

    async def reads_file(self, name: str, attachment_id: str) -> bool:
        try:
            await self.files.readable(await self.member(name), attachment_id)
        except PreauError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            return False
        return True

    async def reimport(self, csv: str) -> None:
        report = await import_directory(
            self.services.store, parse_csv(csv), uai="0751234A", school_name="Collège Hugo",
            timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=self.clock.now_ms())
        assert not report.errors
        await self.services.directory.reload(self.school_id)


@contextlib.asynccontextmanager
async def world(
    store_url: str, tmp_path: Path, *, seed: bool = True, **settings: Any
) -> AsyncIterator[World]:
    """The school on a node of its own; ``seed`` False: a second node on a
    store where it was imported already."""
    clock = FakeClock()
    services = await build_services(settings_for(store_url, tmp_path, **settings),
                                    clock=clock)
    try:
        if seed:
            report = await import_directory(
                services.store, parse_csv(CSV), uai="0751234A", school_name="Collège Hugo",
                timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=clock.now_ms())
            assert not report.errors
            ids = {a.display_name.split()[0]: a.account.person_id for a in report.created}
            yield World(services, clock, report.school.id, ids)
            return
        [school_id] = await services.store.school_ids()
        view = await services.directory.school(school_id)
        assert view is not None
        ids = {m.display_name.split()[0]: m.id for m in view.members.values()}
        yield World(services, clock, school_id, ids)
    finally:
        await close_services(services)
