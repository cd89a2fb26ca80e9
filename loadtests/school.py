"""A synthetic school for the load tests, imported into a fresh data directory.

``prepare_school(data_dir, classes)`` writes a directory CSV with ``classes``
classes of 29 pupils and 1 teacher each (so every class room has 30 members),
imports it with the server's own importer into the SQLite store of
``data_dir``, and gives every person a bearer session. The sessions are
written straight into the store: activating hundreds of accounts through the
HTTP API would spend minutes in argon2, which is not what the benchmark
measures. The result, rooms and their members' tokens, is returned and saved
as ``manifest.json`` (mode 0600: it holds live tokens) for the load processes.

Run alone to inspect a school: ``python -m loadtests.school DIR --classes 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from preau.server.auth import tokens
from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Profile
from preau.server.store import SessionRecord
from preau.server.store.factory import open_store

PUPILS_PER_CLASS = 29
TEACHERS_PER_CLASS = 1
MEMBERS_PER_ROOM = PUPILS_PER_CLASS + TEACHERS_PER_CLASS
UAI = "0999999X"
SCHOOL_NAME = "Collège de charge"
SESSION_TTL_MS = 24 * 3600 * 1000
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Seat:
    """One member of a room, with a bearer token of their own."""

    person: str
    profile: str
    token: str


@dataclass(frozen=True, slots=True)
class RoomSeats:
    room: str
    class_name: str
    members: tuple[Seat, ...]


@dataclass(frozen=True, slots=True)
class SchoolManifest:
    school: str
    rooms: tuple[RoomSeats, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SchoolManifest:
        data = json.loads(text)
        return cls(
            school=data["school"],
            rooms=tuple(
                RoomSeats(
                    room=r["room"],
                    class_name=r["class_name"],
                    members=tuple(Seat(**m) for m in r["members"]),
                )
                for r in data["rooms"]
            ),
        )


def class_name(index: int) -> str:
    return f"C{index:04d}"


def school_csv(classes: int) -> str:
    """``classes`` classes of 29 pupils and one teacher, in the import format."""
    lines = ["id;profile;last_name;first_name;classes"]
    for c in range(classes):
        name = class_name(c)
        lines.append(f"T{c:04d};teacher;Prof{c:04d};Claire;{name}")
        lines.extend(
            f"E{c:04d}{p:02d};pupil;Eleve{c:04d};Pupil{p:02d};{name}"
            for p in range(PUPILS_PER_CLASS)
        )
    return "\n".join(lines) + "\n"


async def build(
    data_dir: Path, classes: int, now_ms: int | None = None, store_url: str = ""
) -> SchoolManifest:
    """Import the school into ``data_dir``'s store (or the store at ``store_url``,
    e.g. a fresh PostgreSQL database) and open one session per person."""
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    store = await open_store(store_url or f"sqlite:///{data_dir / 'preau.db'}")
    try:
        await store.migrate()
        parsed = parse_csv(school_csv(classes))
        if parsed.errors:
            raise RuntimeError(f"synthetic CSV refused: {parsed.errors[:3]}")
        report = await import_directory(
            store, parsed, uai=UAI, school_name=SCHOOL_NAME, timezone="Europe/Paris",
            activation_ttl_s=86400, now_ms=now_ms,
        )
        if report.errors:
            raise RuntimeError(f"import refused rows: {report.errors[:3]}")
        # Benchmarks run at any hour: no quiet hours deferring their messages.
        await store.set_school_settings(report.school.id, None, now_ms, quiet_hours="off")
        view = await store.load_school(report.school.id)
        if view is None:
            raise RuntimeError("the imported school cannot be loaded")
        room_of_class = {r.class_id: r for r in view.rooms.values() if r.class_id}
        seats: dict[str, list[Seat]] = {room.id: [] for room in room_of_class.values()}
        for member in sorted(view.members.values(), key=lambda m: m.id):
            token = tokens.new_session_token()
            await store.create_session(SessionRecord(
                token_hash=tokens.digest(token),
                person_id=member.id,
                kind="bearer",
                created_ms=now_ms,
                last_seen_ms=now_ms,
                expires_ms=now_ms + SESSION_TTL_MS,
            ))
            for class_id in member.classes:
                seats[room_of_class[class_id].id].append(
                    Seat(member.id, member.profile.value, token)
                )
        rooms = []
        for class_id, room in sorted(
            room_of_class.items(), key=lambda item: view.classes[item[0]].name
        ):
            members = sorted(seats[room.id], key=lambda s: (s.profile != Profile.TEACHER, s.person))
            if len(members) != MEMBERS_PER_ROOM:
                raise RuntimeError(f"room {room.id} has {len(members)} members")
            rooms.append(RoomSeats(room.id, view.classes[class_id].name, tuple(members)))
        return SchoolManifest(report.school.id, tuple(rooms))
    finally:
        await store.close()


def prepare_school(data_dir: Path, classes: int, store_url: str = "") -> SchoolManifest:
    """Build the school in a fresh ``data_dir`` (or in the empty store at
    ``store_url``) and write its manifest in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if not store_url and (data_dir / "preau.db").exists():
        raise FileExistsError(f"{data_dir} already holds a store: use a fresh directory")
    manifest = asyncio.run(build(data_dir, classes, store_url=store_url))
    fd = os.open(data_dir / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(manifest.to_json())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--classes", type=int, default=20)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = prepare_school(args.data_dir, args.classes)
    print(f"{len(manifest.rooms)} rooms of {MEMBERS_PER_ROOM} members in {args.data_dir} "
          f"({time.perf_counter() - started:.1f} s); manifest: {args.data_dir / MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
