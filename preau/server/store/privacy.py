"""SQL for data protection (export, erasure, retention, rollover, access journal).

Written over the same :class:`~preau.server.store.engine.Engine` as the Store and kept
apart from it: these are maintenance paths (a person's export, a yearly
rollover, an hourly retention pass), not the chat's hot path, and they read
tables directly. Every method is one transaction unless it says otherwise;
the portability rules of ``migrations/0001_initial.sql`` hold for the SQL here.

Every table of every feature is covered (the migrations all run at start):
the tests list the schema's tables to check that erasure leaves no identity.

Longer than ~600 lines on purpose: erasure and export must each name every
table that holds a person, and keeping them in one module is what lets a
reviewer check one against the other (and against the schema test).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from preau.server.directory.model import RoomKind
from preau.server.store.engine import Engine, Row, Transaction, new_id

log = logging.getLogger(__name__)

PAGE = 500  # rows per page when streaming an export
# Erased people's kept contributions carry ``PSEUDONYM_PREFIX + random``:
# never a person, so look-ups can skip them (Directory.view_of_person).
PSEUDONYM_PREFIX = "erased-"


def _display(first: Any, last: Any) -> str:
    return f"{first} {last}".strip()


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: str
    school_id: str
    external_id: str
    login: str
    profile: str
    first_name: str
    last_name: str
    is_admin: bool
    active: bool
    activated: bool
    created_ms: int
    updated_ms: int
    closed_ms: int | None

    @property
    def display_name(self) -> str:
        return _display(self.first_name, self.last_name)


_PERSON_COLUMNS = (
    "id, school_id, external_id, login, profile, first_name, last_name, is_admin, active,"
    " CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS activated, created_ms,"
    " updated_ms, closed_ms"
)


def _person(r: Row) -> PersonRecord:
    return PersonRecord(
        id=r["id"], school_id=r["school_id"], external_id=r["external_id"], login=r["login"],
        profile=r["profile"], first_name=r["first_name"], last_name=r["last_name"],
        is_admin=bool(r["is_admin"]), active=bool(r["active"]), activated=bool(r["activated"]),
        created_ms=int(r["created_ms"]), updated_ms=int(r["updated_ms"]),
        closed_ms=None if r["closed_ms"] is None else int(r["closed_ms"]),
    )


@dataclass(frozen=True, slots=True)
class ErasureJob:
    id: str
    person_id: str
    school_id: str
    reason: str
    delete_contributions: bool
    pseudonym: str
    step: str
    requested_ms: int
    profile: str


def _job(r: Row) -> ErasureJob:
    return ErasureJob(
        id=r["id"], person_id=r["person_id"], school_id=r["school_id"], reason=r["reason"],
        delete_contributions=bool(r["delete_contributions"]), pseudonym=r["pseudonym"],
        step=r["step"], requested_ms=int(r["requested_ms"]), profile=r["profile"],
    )


_JOB_COLUMNS = (
    "id, person_id, school_id, reason, delete_contributions, pseudonym, step, requested_ms,"
    " profile"
)


async def _bump_directory(tx: Transaction, school_id: str) -> None:
    # Every node reloads the school (Directory.watch / refresh_changed) and
    # re-checks live sockets against it: closed or erased people drop out.
    await tx.execute(
        "UPDATE schools SET directory_version = directory_version + 1 WHERE id = $1", school_id
    )


async def _delete_messages(tx: Transaction, where: str, *args: Any) -> int:
    """Delete the messages matching ``where`` (an SQL condition on ``messages``),
    with what points at them (reports, kept originals, the texts edits
    replaced, acknowledgements, reactions) first."""
    selected = f"SELECT room_id, seq FROM messages WHERE {where}"
    await tx.execute(f"DELETE FROM message_acks WHERE (room_id, seq) IN ({selected})", *args)
    await tx.execute(f"DELETE FROM reactions WHERE (room_id, seq) IN ({selected})", *args)
    await tx.execute(f"DELETE FROM reports WHERE (room_id, seq) IN ({selected})", *args)
    await tx.execute(
        f"DELETE FROM redacted_messages WHERE (room_id, seq) IN ({selected})", *args
    )
    await tx.execute(f"DELETE FROM message_edits WHERE (room_id, seq) IN ({selected})", *args)
    return await tx.execute(f"DELETE FROM messages WHERE {where}", *args)


class PrivacyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    async def table_names(self) -> set[str]:
        """The schema's tables (the tests look for an identity in every one)."""
        from preau.server.store.sqlite import SqliteEngine

        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if isinstance(self._engine, SqliteEngine)
            else "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema()"
        )
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql)
        return {str(r["name"]) for r in rows}

    # -- people -----------------------------------------------------------------
    async def person(self, person_id: str) -> PersonRecord | None:
        """A person, open or closed (not yet erased)."""
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(f"SELECT {_PERSON_COLUMNS} FROM people WHERE id = $1", person_id)
        return None if r is None else _person(r)

    async def person_by_login(self, login: str) -> PersonRecord | None:
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE login = $1", login.lower()
            )
        return None if r is None else _person(r)

    async def display_names(self, person_ids: Sequence[str]) -> dict[str, str]:
        """Display names of those ids that are (still) people."""
        names: dict[str, str] = {}
        ids = sorted(set(person_ids))
        async with self._engine.transaction(readonly=True) as tx:
            for start in range(0, len(ids), 200):
                chunk = ids[start:start + 200]
                marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
                rows = await tx.fetch(
                    f"SELECT id, first_name, last_name FROM people WHERE id IN ({marks})", *chunk
                )
                names.update({r["id"]: _display(r["first_name"], r["last_name"]) for r in rows})
        return names

    # -- export: one page per transaction ---------------------------------------
    async def export_relations(self, person_id: str) -> dict[str, Any]:
        """Classes, guardians, children, rooms with moderation state, sessions,
        read markers, acknowledgements and reactions."""
        reading: dict[str, list[dict[str, Any]]] = {}
        async with self._engine.transaction(readonly=True) as tx:
            paused = await tx.fetch(
                "SELECT paused_ms, reason, details FROM paused_accounts WHERE person_id = $1",
                person_id,
            )
            charter = await tx.fetch(
                "SELECT version, accepted_ms FROM charter_acceptances WHERE person_id = $1"
                " ORDER BY version",
                person_id,
            )
            moods = await tx.fetch(
                "SELECT day, mood, night, breakfast, updated_ms FROM moods WHERE person_id = $1"
                " ORDER BY day",
                person_id,
            )
            notifications = await tx.fetch(
                "SELECT n.kind, n.room_id, r.kind AS room_kind, n.seq, n.actor_id, n.data,"
                " n.created_ms, n.read_ms FROM notifications n"
                " LEFT JOIN rooms r ON r.id = n.room_id"
                " WHERE n.person_id = $1 ORDER BY n.created_ms, n.id",
                person_id,
            )
            email = await tx.fetchrow(
                "SELECT email, bouncing_ms FROM person_emails WHERE person_id = $1", person_id)
            emails_sent = await tx.fetchval(
                "SELECT COUNT(*) FROM email_jobs WHERE person_id = $1 AND status = 'sent'",
                person_id)
            notification_preferences = await tx.fetch(
                "SELECT kind, channel, updated_ms FROM notification_preferences"
                " WHERE person_id = $1 ORDER BY kind", person_id)
            language = await tx.fetchval(
                "SELECT language FROM person_settings WHERE person_id = $1", person_id)
            push_devices = await tx.fetch(
                "SELECT endpoint, label, created_ms, last_ok_ms FROM push_subscriptions"
                " WHERE person_id = $1 ORDER BY created_ms, id", person_id)
            pushes_sent = await tx.fetchval(
                "SELECT COUNT(*) FROM push_jobs WHERE person_id = $1 AND status = 'sent'",
                person_id)
            reactions = await tx.fetch(
                "SELECT room_id, seq, reaction, created_ms FROM reactions WHERE person_id = $1"
                " ORDER BY room_id, seq, reaction",
                person_id,
            )
            for table in ("read_markers", "message_acks"):
                rows = await tx.fetch(
                    f"SELECT room_id, seq, at_ms FROM {table} WHERE person_id = $1"
                    " ORDER BY room_id, seq",
                    person_id,
                )
                reading[table] = [
                    {"room": r["room_id"], "seq": int(r["seq"]), "at": int(r["at_ms"])}
                    for r in rows
                ]
            classes = await tx.fetch(
                "SELECT c.id, c.name FROM class_members m JOIN classes c ON c.id = m.class_id"
                " WHERE m.person_id = $1 ORDER BY c.name",
                person_id,
            )
            guardians = await tx.fetch(
                "SELECT p.first_name, p.last_name FROM guardianships g"
                " JOIN people p ON p.id = g.parent_id WHERE g.child_id = $1"
                " ORDER BY p.last_name, p.first_name",
                person_id,
            )
            children = await tx.fetch(
                "SELECT p.first_name, p.last_name FROM guardianships g"
                " JOIN people p ON p.id = g.child_id WHERE g.parent_id = $1"
                " ORDER BY p.last_name, p.first_name",
                person_id,
            )
            states = await tx.fetch(
                "SELECT m.room_id, r.name, m.muted_until_ms, m.removed, m.last_post_ms"
                " FROM room_members m JOIN rooms r ON r.id = m.room_id"
                " WHERE m.person_id = $1 ORDER BY m.room_id",
                person_id,
            )
            sessions = await tx.fetch(
                "SELECT kind, created_ms, last_seen_ms, expires_ms, revoked FROM sessions"
                " WHERE person_id = $1 ORDER BY created_ms",
                person_id,
            )
        return {
            "classes": [{"id": r["id"], "name": r["name"]} for r in classes],
            "guardians": [_display(r["first_name"], r["last_name"]) for r in guardians],
            "children": [_display(r["first_name"], r["last_name"]) for r in children],
            "room_states": [
                {"room": r["room_id"], "room_name": r["name"],
                 "muted_until": r["muted_until_ms"], "removed": bool(r["removed"]),
                 "last_post": r["last_post_ms"]}
                for r in states
            ],
            "sessions": [
                {"kind": r["kind"], "created": int(r["created_ms"]),
                 "last_seen": int(r["last_seen_ms"]), "expires": int(r["expires_ms"]),
                 "revoked": bool(r["revoked"])}
                for r in sessions
            ],
            "paused": [
                {"since": int(r["paused_ms"]), "reason": r["reason"],
                 "details": orjson.loads(r["details"])}
                for r in paused
            ],
            "read_up_to": reading.get("read_markers", []),
            "acknowledged": reading.get("message_acks", []),
            # Reactions on messages (which emoji, on which message, when).
            "reactions": [
                {"room": r["room_id"], "seq": int(r["seq"]), "reaction": r["reaction"],
                 "at": int(r["created_ms"])}
                for r in reactions
            ],
            # The mood of the day (kindergarten and primary pupils), this school year.
            "moods": [
                {"day": r["day"], "mood": r["mood"], "night": r["night"],
                 "breakfast": r["breakfast"], "at": int(r["updated_ms"])}
                for r in moods
            ],
            # The notification centre: what the person was told of, read or not.
            "notifications": [
                {"kind": r["kind"], "room": r["room_id"], "room_kind": r["room_kind"],
                 "seq": None if r["seq"] is None else int(r["seq"]),
                 "by": r["actor_id"], "data": orjson.loads(r["data"]),
                 "at": int(r["created_ms"]),
                 "read_at": None if r["read_ms"] is None else int(r["read_ms"])}
                for r in notifications
            ],
            # Where notification e-mails go (the import's courriel column).
            "email": None if email is None else {
                "address": email["email"], "bouncing_since": email["bouncing_ms"],
                "sent": int(emails_sent or 0)},
            # How the person chose to be told of each kind of notification.
            "notification_preferences": [
                {"kind": r["kind"], "channel": r["channel"], "at": int(r["updated_ms"])}
                for r in notification_preferences
            ],
            # The language of the person's notification e-mails and pushes.
            "language": language,
            # The devices that receive Web Push notifications, and how many went.
            "push": {
                "devices": [
                    {"endpoint": r["endpoint"], "label": r["label"], "since": int(r["created_ms"]),
                     "last_ok": None if r["last_ok_ms"] is None else int(r["last_ok_ms"])}
                    for r in push_devices
                ],
                "sent": int(pushes_sent or 0),
            },
            # The charter of use: which versions the person accepted, when.
            "charter_accepted": [
                {"version": int(r["version"]), "at": int(r["accepted_ms"])} for r in charter
            ],
        }

    async def shared_rooms_posted_in(self, person_id: str) -> list[dict[str, str]]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT id, name, kind FROM rooms WHERE kind <> $2 AND id IN"
                " (SELECT DISTINCT room_id FROM messages WHERE sender_id = $1)"
                " ORDER BY id",
                person_id, RoomKind.PRIVATE.value,
            )
        return [{"id": r["id"], "name": r["name"], "kind": r["kind"]} for r in rows]

    async def own_messages(self, person_id: str) -> AsyncIterator[Row]:
        """The messages ``person_id`` wrote outside private conversations, page by page."""
        room, seq = "", -1
        while True:
            async with self._engine.transaction(readonly=True) as tx:
                rows = await tx.fetch(
                    "SELECT m.room_id, m.seq, m.id, m.body, m.created_ms, m.kind, m.redacts,"
                    " m.reason, m.redacted_seq, m.edited_ms"
                    " FROM messages m JOIN rooms r ON r.id = m.room_id"
                    " WHERE m.sender_id = $1 AND r.kind <> $2"
                    " AND (m.room_id > $3 OR (m.room_id = $3 AND m.seq > $4))"
                    f" ORDER BY m.room_id, m.seq LIMIT {PAGE}",
                    person_id, RoomKind.PRIVATE.value, room, seq,
                )
            for r in rows:
                yield r
            if len(rows) < PAGE:
                return
            room, seq = rows[-1]["room_id"], int(rows[-1]["seq"])

    async def forget_deleted(self) -> None:
        """No copy of what was just deleted left in the database's files."""
        await self._engine.forget_deleted()

    async def conversations(self, person_id: str) -> list[dict[str, Any]]:
        """Private conversations ``person_id`` is part of, with their members' ids."""
        async with self._engine.transaction(readonly=True) as tx:
            rooms = await tx.fetch(
                "SELECT id, name, created_ms FROM rooms WHERE kind = $2 AND id IN"
                " (SELECT room_id FROM room_members_explicit WHERE person_id = $1) ORDER BY id",
                person_id, RoomKind.PRIVATE.value,
            )
            out = []
            for r in rooms:
                members = await tx.fetch(
                    "SELECT person_id FROM room_members_explicit WHERE room_id = $1", r["id"]
                )
                out.append({"id": r["id"], "created": int(r["created_ms"]),
                            "members": sorted(m["person_id"] for m in members)})
        return out

    async def room_messages(self, room_id: str) -> AsyncIterator[Row]:
        seq = -1
        while True:
            async with self._engine.transaction(readonly=True) as tx:
                rows = await tx.fetch(
                    "SELECT seq, sender_id, body, created_ms, kind, redacts, redacted_seq,"
                    " edited_ms FROM messages WHERE room_id = $1 AND seq > $2"
                    f" ORDER BY seq LIMIT {PAGE}",
                    room_id, seq,
                )
            for r in rows:
                yield r
            if len(rows) < PAGE:
                return
            seq = int(rows[-1]["seq"])

    async def held_of(self, person_id: str) -> list[Row]:
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT room_id, body, created_ms, status, decided_by, decided_ms, reason, seq"
                " FROM held_messages WHERE sender_id = $1 ORDER BY created_ms",
                person_id,
            )

    async def scheduled_of(self, person_id: str) -> list[Row]:
        """Messages waiting for the end of quiet hours (migration 0006), and
        those delivered (``seq`` set)."""
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT room_id, body, created_ms, release_ms, seq FROM scheduled_messages"
                " WHERE sender_id = $1 ORDER BY created_ms",
                person_id,
            )

    async def reports_by(self, person_id: str) -> list[Row]:
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT room_id, seq, reason, created_ms, status, resolved_ms FROM reports"
                " WHERE reporter_id = $1 ORDER BY created_ms",
                person_id,
            )

    async def moderation_concerning(self, person_id: str) -> list[Row]:
        """Audit entries on the person, their messages or their held messages."""
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT a.room_id, a.actor_id, a.action, a.target_seq, a.reason, a.details,"
                " a.created_ms FROM audit_log a WHERE a.target_person_id = $1"
                " OR a.target_held_id IN (SELECT id FROM held_messages WHERE sender_id = $1)"
                " OR (a.target_seq IS NOT NULL AND EXISTS (SELECT 1 FROM messages m"
                "  WHERE m.room_id = a.room_id AND m.seq = a.target_seq AND m.sender_id = $1))"
                " ORDER BY a.created_ms, a.seq",
                person_id,
            )

    async def journal_of_actor(self, person_id: str) -> list[Row]:
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT view, subject, at_ms FROM access_journal WHERE actor_id = $1"
                " ORDER BY at_ms",
                person_id,
            )

    async def files_of(self, person_id: str) -> list[Row]:
        """The files the person uploaded (their export lists them, with links)."""
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT id, name, size, kind, mime, state, created_ms, room_id, seq,"
                " document_id, bound_ms FROM attachments WHERE author_id = $1"
                " ORDER BY created_ms, id", person_id,
            )

    async def document_edits(self, person_id: str) -> list[Row]:
        """Documents the person edited, with how often and when."""
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT e.document_id, d.title, MIN(e.at_ms) AS first_ms,"
                " MAX(e.at_ms) AS last_ms, COUNT(*) AS edits FROM document_edits e"
                " JOIN documents d ON d.id = e.document_id WHERE e.person_id = $1"
                " GROUP BY e.document_id, d.title ORDER BY e.document_id",
                person_id,
            )

    # -- erasure jobs -------------------------------------------------------------
    async def request_erasure(
        self, person: PersonRecord, reason: str, delete_contributions: bool, now_ms: int,
        first_step: str,
    ) -> ErasureJob:
        """Create the person's erasure job, or return the one already pending
        (idempotent: a second request joins the first; asking for deletion of
        contributions upgrades it)."""
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO erasures (id, person_id, school_id, reason, delete_contributions,"
                " pseudonym, step, requested_ms, updated_ms, profile)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
                " ON CONFLICT (person_id) DO NOTHING",
                new_id(), person.id, person.school_id, reason, int(delete_contributions),
                PSEUDONYM_PREFIX + new_id(), first_step, now_ms, person.profile,
            )
            if delete_contributions:
                # Only while the contributions step is still ahead.
                await tx.execute(
                    "UPDATE erasures SET delete_contributions = 1 WHERE person_id = $1"
                    " AND step IN ('close', 'private', 'contributions')",
                    person.id,
                )
            row = await tx.fetchrow(
                f"SELECT {_JOB_COLUMNS} FROM erasures WHERE person_id = $1", person.id
            )
        assert row is not None
        return _job(row)

    async def pending_erasures(self, school_id: str | None = None) -> list[ErasureJob]:
        async with self._engine.transaction(readonly=True) as tx:
            if school_id is None:
                rows = await tx.fetch(f"SELECT {_JOB_COLUMNS} FROM erasures ORDER BY requested_ms")
            else:
                rows = await tx.fetch(
                    f"SELECT {_JOB_COLUMNS} FROM erasures WHERE school_id = $1"
                    " ORDER BY requested_ms",
                    school_id,
                )
        return [_job(r) for r in rows]

    async def erasure_step(
        self, job: ErasureJob, step: str, next_step: str, now_ms: int
    ) -> tuple[bool, Any]:
        """Run one step of ``job`` and record ``next_step``, in one transaction.

        Returns whether it ran, and what the step reports (the deleted session
        hashes for ``close``).
        A step whose job moved on already (another runner, a resumed crash)
        does nothing: each step is idempotent and guarded by the recorded step.
        """
        async with self._engine.transaction(bulk=True) as tx:
            moved = await tx.execute(
                "UPDATE erasures SET step = $3, updated_ms = $4 WHERE id = $1 AND step = $2",
                job.id, step, next_step, now_ms,
            )
            if not moved:
                return False, None
            return True, await getattr(self, "_step_" + step)(tx, job, now_ms)

    async def _step_close(self, tx: Transaction, job: ErasureJob, now_ms: int) -> list[str]:
        await tx.execute(
            "UPDATE people SET active = 0, closed_ms = COALESCE(closed_ms, $2),"
            " password_hash = NULL, activation_hash = NULL, activation_used_hash = NULL"
            " WHERE id = $1",
            job.person_id, now_ms,
        )
        rows = await tx.fetch("SELECT token_hash FROM sessions WHERE person_id = $1", job.person_id)
        # Deleted, not only revoked: the sessions are the person's connection log;
        # with them, the identity provider's subject they were opened for.
        await tx.execute("DELETE FROM sso_sessions WHERE token_hash IN"
                         " (SELECT token_hash FROM sessions WHERE person_id = $1)", job.person_id)
        await tx.execute("DELETE FROM sessions WHERE person_id = $1", job.person_id)
        await _bump_directory(tx, job.school_id)
        return [str(r["token_hash"]) for r in rows]

    async def _step_private(self, tx: Transaction, job: ErasureJob, now_ms: int) -> None:
        pid = job.person_id
        rooms = [
            str(r["room_id"]) for r in await tx.fetch(
                "SELECT room_id FROM room_members_explicit WHERE person_id = $1", pid
            )
        ]
        private = "room_id IN (SELECT id FROM rooms WHERE kind = 'private')"
        # What told the others of her private messages (and that she opened
        # a conversation) goes with them, with the mails and pushes not sent.
        told = f"SELECT id FROM notifications WHERE actor_id = $1 AND {private}"
        for jobs in ("email_jobs", "push_jobs"):
            await tx.execute(
                f"DELETE FROM {jobs} WHERE status = 'pending' AND notification_id IN ({told})",
                pid)
        await tx.execute(f"DELETE FROM notifications WHERE actor_id = $1 AND {private}", pid)
        await _delete_messages(tx, f"sender_id = $1 AND kind = 'message' AND {private}", pid)
        await tx.execute(f"DELETE FROM held_messages WHERE sender_id = $1 AND {private}", pid)
        await tx.execute(f"DELETE FROM scheduled_messages WHERE sender_id = $1 AND {private}", pid)
        await tx.execute("DELETE FROM room_members_explicit WHERE person_id = $1", pid)
        for room_id in rooms:
            # The conversation's name was its members' names: rebuilt from
            # those who remain. The pair key (two person ids) goes too.
            rows = await tx.fetch(
                "SELECT p.first_name, p.last_name FROM room_members_explicit m"
                " JOIN people p ON p.id = m.person_id WHERE m.room_id = $1",
                room_id,
            )
            name = ", ".join(sorted(_display(r["first_name"], r["last_name"]) for r in rows))
            await tx.execute(
                "UPDATE rooms SET name = $2, pair_key = NULL WHERE id = $1", room_id, name
            )

    async def _step_contributions(self, tx: Transaction, job: ErasureJob, now_ms: int) -> None:
        pid, alias = job.person_id, job.pseudonym
        if job.delete_contributions:
            # Her messages go, and what told others of them (with their mails).
            await tx.execute(
                "DELETE FROM email_jobs WHERE status = 'pending' AND notification_id IN"
                " (SELECT id FROM notifications WHERE actor_id = $1 AND seq IS NOT NULL)", pid)
            await tx.execute(
                "DELETE FROM push_jobs WHERE status = 'pending' AND notification_id IN"
                " (SELECT id FROM notifications WHERE actor_id = $1 AND seq IS NOT NULL)", pid)
            await tx.execute(
                "DELETE FROM notifications WHERE actor_id = $1 AND seq IS NOT NULL", pid)
            await _delete_messages(tx, "sender_id = $1 AND kind = 'message'", pid)
            await tx.execute("DELETE FROM held_messages WHERE sender_id = $1", pid)
            await tx.execute("DELETE FROM scheduled_messages WHERE sender_id = $1", pid)
        else:
            # Pending held messages were never published: nothing to keep;
            # nor messages waiting for the end of quiet hours.
            await tx.execute(
                "DELETE FROM held_messages WHERE sender_id = $1 AND status = 'pending'", pid
            )
            await tx.execute(
                "DELETE FROM scheduled_messages WHERE sender_id = $1 AND seq IS NULL", pid
            )
        # What the person read, acknowledged and reacted with is about them alone.
        # The messages they reacted to get a new revision: a resume repaints them.
        await tx.execute(
            "UPDATE messages SET reactions_rev = reactions_rev + 1, reactions_head ="
            " (SELECT last_seq FROM rooms WHERE rooms.id = messages.room_id)"
            " WHERE (room_id, seq) IN (SELECT room_id, seq FROM reactions WHERE person_id = $1)",
            pid,
        )
        for table in ("message_acks", "read_markers", "reactions"):
            await tx.execute(f"DELETE FROM {table} WHERE person_id = $1", pid)
        # Whatever is kept (messages, moderation acts, the log) is attributed
        # to a pseudonym that nothing links back to the person once done.
        for table, column in (
            ("messages", "sender_id"),
            ("held_messages", "sender_id"),
            ("held_messages", "decided_by"),
            ("redacted_messages", "sender_id"),
            ("message_edits", "sender_id"),  # texts an edit replaced (0032)
            ("reports", "reporter_id"),
            ("reports", "resolved_by"),
            ("audit_log", "actor_id"),
            ("audit_log", "target_person_id"),
            ("messaging_suspensions", "actor_id"),
            ("word_filters", "updated_by"),
            ("access_journal", "actor_id"),
            ("rooms", "opener_id"),  # who opened a conversation (migration 0011)
            ("charters", "published_by"),  # who published a charter version (0014)
            # Files kept with kept messages (0040); the others go with their
            # messages (the attachments' sweep, preau/server/store/attachments.py).
            ("attachments", "author_id"),
        ):
            await tx.execute(f"UPDATE {table} SET {column} = $2 WHERE {column} = $1", pid, alias)
        # What the staff read about her (an export, an audit query on her).
        await tx.execute(
            "UPDATE access_journal SET subject = REPLACE(subject, $1, $2) WHERE subject LIKE $3",
            pid, alias, f"%{pid}%",
        )
        await tx.execute(
            "UPDATE scheduled_messages SET sender_id = $2 WHERE sender_id = $1", pid, alias
        )
        # Documents: their content is the class's work and stays; who made,
        # versioned and edited them becomes the pseudonym. Their Yjs content
        # cannot be split by author, so it is never deleted here.
        # Who caused a notification, in others' notification centres.
        await tx.execute(
            "UPDATE notifications SET actor_id = $2 WHERE actor_id = $1", pid, alias
        )
        for table, column in (
            ("document_edits", "person_id"),
            ("document_clients", "person_id"),  # her copies stay hers: nobody writes as her
            ("document_refused_copies", "person_id"),
            ("documents", "created_by"),
            ("document_versions", "created_by"),
        ):
            await tx.execute(f"UPDATE {table} SET {column} = $2 WHERE {column} = $1", pid, alias)
        await tx.execute("DELETE FROM document_people WHERE person_id = $1", pid)
        # A call's state (JSON) names its participants by id.
        await tx.execute(
            "UPDATE calls SET state = REPLACE(state, $1, $2) WHERE state LIKE $3",
            pid, alias, f"%{pid}%",
        )

    async def _step_identity(self, tx: Transaction, job: ErasureJob, now_ms: int) -> None:
        pid = job.person_id
        await tx.execute("DELETE FROM paused_accounts WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM charter_acceptances WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM moods WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM notifications WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM notification_preferences WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM email_jobs WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM person_emails WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM push_jobs WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM email_changes WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM person_settings WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM push_subscriptions WHERE person_id = $1", pid)
        await tx.execute("DELETE FROM password_resets WHERE person_id = $1", pid)
        for sql in (
            "DELETE FROM class_members WHERE person_id = $1",
            "DELETE FROM guardianships WHERE parent_id = $1 OR child_id = $1",
            "DELETE FROM room_members WHERE person_id = $1",
            "DELETE FROM sso_sessions WHERE token_hash IN"
            " (SELECT token_hash FROM sessions WHERE person_id = $1)",
            "DELETE FROM sessions WHERE person_id = $1",
            "DELETE FROM people WHERE id = $1",
        ):
            await tx.execute(sql, pid)
        await _bump_directory(tx, job.school_id)

    async def _step_traces(self, tx: Transaction, job: ErasureJob, now_ms: int) -> None:
        """Nothing in the database: the caller clears Redis before this step."""

    async def _step_finish(self, tx: Transaction, job: ErasureJob, now_ms: int) -> None:
        await tx.execute(
            "INSERT INTO erasure_tombstones (id, school_id, reason, profile, requested_ms,"
            " erased_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            new_id(), job.school_id, job.reason, job.profile, job.requested_ms, now_ms,
        )
        await tx.execute("DELETE FROM erasures WHERE id = $1", job.id)

    async def tombstones(self, school_id: str) -> list[Row]:
        async with self._engine.transaction(readonly=True) as tx:
            return await tx.fetch(
                "SELECT id, reason, profile, requested_ms, erased_ms FROM erasure_tombstones"
                " WHERE school_id = $1 ORDER BY erased_ms",
                school_id,
            )

    # -- access journal -----------------------------------------------------------
    async def journal(
        self, school_id: str, actor_id: str, view: str, subject: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO access_journal (id, school_id, actor_id, view, subject, at_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                new_id(), school_id, actor_id, view, subject, now_ms,
            )

    async def journal_page(
        self, school_id: str, before_ms: int | None, limit: int
    ) -> list[Row]:
        """Newest first, entries older than ``before_ms``. A page never ends in
        the middle of a millisecond (it takes all of the last one's entries, so
        may be longer than ``limit``): the next page starts strictly older."""
        columns = "id, actor_id, view, subject, at_ms"
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {columns} FROM access_journal"
                " WHERE school_id = $1 AND at_ms < $2 ORDER BY at_ms DESC, id LIMIT $3",
                school_id, before_ms if before_ms is not None else 2**62, limit,
            )
            if len(rows) == limit:
                last = int(rows[-1]["at_ms"])
                seen = {r["id"] for r in rows}
                rows += [
                    r for r in await tx.fetch(
                        f"SELECT {columns} FROM access_journal WHERE school_id = $1"
                        " AND at_ms = $2 ORDER BY id",
                        school_id, last,
                    )
                    if r["id"] not in seen
                ]
        return rows

    # -- rollover -----------------------------------------------------------------
    async def archive_classes(
        self, school_id: str, suffix: str, now_ms: int, keep_until_ms: int, *, label: str
    ) -> list[str]:
        """Set every current class of the school aside for the new school year:
        renamed with ``suffix`` (so the new year's classes start with fresh
        rooms), their rooms read-only until ``keep_until_ms``. Returns the
        archived room ids. Classes already archived are left alone, and a
        second call with the same ``label`` does nothing (a rollover re-run)."""
        async with self._engine.transaction(bulk=True) as tx:
            first = await tx.execute(
                "INSERT INTO jobs (name, last_done_ms) VALUES ($1, $2)"
                " ON CONFLICT (name) DO NOTHING",
                f"rollover/{school_id}/{label}", now_ms,
            )
            if not first:
                return []
            classes = await tx.fetch(
                "SELECT id, name FROM classes WHERE school_id = $1 AND id NOT IN"
                " (SELECT r.class_id FROM rooms r JOIN archived_rooms a ON a.room_id = r.id"
                "  WHERE r.class_id IS NOT NULL)",
                school_id,
            )
            archived: list[str] = []
            for c in classes:
                await tx.execute(
                    "UPDATE classes SET name = $2 WHERE id = $1", c["id"], f"{c['name']} {suffix}"
                )
                rooms = await tx.fetch(
                    "SELECT id, name FROM rooms WHERE class_id = $1", c["id"]
                )
                for r in rooms:
                    await tx.execute(
                        "UPDATE rooms SET name = $2, mode = 'read_only' WHERE id = $1",
                        r["id"], f"{r['name']} {suffix}",
                    )
                    await tx.execute(
                        "INSERT INTO archived_rooms (room_id, school_id, archived_ms,"
                        " keep_until_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        r["id"], school_id, now_ms, keep_until_ms,
                    )
                    archived.append(str(r["id"]))
            await _bump_directory(tx, school_id)
        return archived

    async def close_departed(
        self, school_id: str, present: set[str], now_ms: int, *, close_absent: bool = True
    ) -> list[tuple[str, list[str]]]:
        """Reopen the closed accounts of the school whose external id is in
        ``present`` (they are back, unless their erasure started) and, with
        ``close_absent``, close the open ones that are not (they left).
        Returns the closed people with their revoked session hashes."""
        async with self._engine.transaction(bulk=True) as tx:
            rows = await tx.fetch(
                "SELECT id, external_id, active, closed_ms FROM people WHERE school_id = $1",
                school_id,
            )
            pending = {
                str(r["person_id"]) for r in await tx.fetch("SELECT person_id FROM erasures")
            }
            closed: list[tuple[str, list[str]]] = []
            changed = False
            for r in rows:
                pid = str(r["id"])
                if r["external_id"] in present:
                    if not r["active"] and r["closed_ms"] is not None and pid not in pending:
                        changed = True
                        await tx.execute(
                            "UPDATE people SET active = 1, closed_ms = NULL, updated_ms = $2"
                            " WHERE id = $1",
                            pid, now_ms,
                        )
                    continue
                if not r["active"] or not close_absent:
                    continue
                await tx.execute(
                    "UPDATE people SET active = 0, closed_ms = $2, updated_ms = $2 WHERE id = $1",
                    pid, now_ms,
                )
                await tx.execute("DELETE FROM class_members WHERE person_id = $1", pid)
                hashes = await tx.fetch(
                    "SELECT token_hash FROM sessions WHERE person_id = $1 AND revoked = 0", pid
                )
                await tx.execute("UPDATE sessions SET revoked = 1 WHERE person_id = $1", pid)
                closed.append((pid, [str(h["token_hash"]) for h in hashes]))
            if changed or closed:
                await _bump_directory(tx, school_id)
        return closed

    # -- retention ------------------------------------------------------------------
    async def claim_job(
        self, name: str, holder: str, now_ms: int, lease_ms: int, every_ms: int
    ) -> bool:
        """Take the job ``name`` if it is due and nobody holds a live lease.

        One UPDATE with the whole condition in its WHERE: PostgreSQL re-checks
        the condition on the row a concurrent winner just changed, and SQLite
        writers run one at a time, so of nodes racing here exactly one wins.
        """
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO jobs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name
            )
            won = await tx.execute(
                "UPDATE jobs SET holder = $2, lease_until_ms = $3, last_start_ms = $4"
                " WHERE name = $1 AND lease_until_ms <= $4 AND last_done_ms <= $5",
                name, holder, now_ms + lease_ms, now_ms, now_ms - every_ms,
            )
        return won == 1

    async def finish_job(self, name: str, holder: str, now_ms: int, result: dict[str, Any]) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET lease_until_ms = 0, last_done_ms = $3, last_result = $4"
                " WHERE name = $1 AND holder = $2",
                name, holder, now_ms, orjson.dumps(result).decode(),
            )

    async def release_job(self, name: str, holder: str) -> None:
        """Give the lease back after a failed run (the next due run retries)."""
        async with self._engine.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET lease_until_ms = 0 WHERE name = $1 AND holder = $2", name, holder
            )

    async def job_state(self, name: str) -> dict[str, Any] | None:
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                "SELECT holder, lease_until_ms, last_start_ms, last_done_ms, last_result"
                " FROM jobs WHERE name = $1",
                name,
            )
        if r is None:
            return None
        return {
            "holder": r["holder"], "lease_until": int(r["lease_until_ms"]),
            "last_start": int(r["last_start_ms"]), "last_done": int(r["last_done_ms"]),
            "last_result": orjson.loads(r["last_result"]),
        }

    async def purge_messages(self, before_ms: int) -> int:
        """Messages (and held messages) older than ``before_ms``, with what points at them."""
        async with self._engine.transaction(bulk=True) as tx:
            count = await _delete_messages(tx, "created_ms < $1", before_ms)
            count += await tx.execute("DELETE FROM held_messages WHERE created_ms < $1", before_ms)
            count += await tx.execute(
                "DELETE FROM scheduled_messages WHERE seq IS NOT NULL AND created_ms < $1",
                before_ms,
            )
        return count

    async def purge_moods(self, first_day_kept: str) -> int:
        """The mood of the day is kept for the school year at most: delete the
        picks of days before ``first_day_kept`` (``YYYY-MM-DD``)."""
        async with self._engine.transaction() as tx:
            return await tx.execute("DELETE FROM moods WHERE day < $1", first_day_kept)

    async def purge_notifications(self, before_ms: int) -> int:
        """Notifications older than ``before_ms``, read or not."""
        async with self._engine.transaction() as tx:
            # Pushes and mails are kept as long as what they told of (the
            # admin's counts); a mail's unsubscribe link ends with it.
            await tx.execute("DELETE FROM push_jobs WHERE created_ms < $1", before_ms)
            await tx.execute("DELETE FROM email_jobs WHERE created_ms < $1", before_ms)
            return await tx.execute("DELETE FROM notifications WHERE created_ms < $1", before_ms)

    async def purge_logs(self, before_ms: int, now_ms: int) -> int:
        """Connection records (ended sessions, ended calls) and access journal
        entries older than ``before_ms``."""
        async with self._engine.transaction() as tx:
            count = await tx.execute(
                "DELETE FROM sessions WHERE last_seen_ms < $1 AND (revoked = 1 OR expires_ms < $2)",
                before_ms, now_ms,
            )
            count += await tx.execute("DELETE FROM access_journal WHERE at_ms < $1", before_ms)
            # Ended calls: their state names who took part, as a connection log does.
            count += await tx.execute(
                "DELETE FROM calls WHERE status = 'ended' AND updated_ms < $1", before_ms)
            # Single sign-on links of sessions ended (revoked or expired) or gone.
            await tx.execute(
                "DELETE FROM sso_sessions WHERE expires_ms < $1 OR token_hash IN"
                " (SELECT token_hash FROM sessions WHERE revoked = 1)"
                " OR token_hash NOT IN (SELECT token_hash FROM sessions)", now_ms)
        return count

    async def purge_expired_links(self, now_ms: int) -> int:
        """Links and tokens past their expiry: password recovery links (and
        used ones), e-mail changes waiting for their confirmation, single
        sign-on logins under way and back-channel logout tokens. Each is
        also cleared when its own flow runs again; this is for the ones
        that never do."""
        async with self._engine.transaction() as tx:
            count = await tx.execute(
                "DELETE FROM password_resets WHERE expires_ms < $1 OR used_ms IS NOT NULL",
                now_ms)
            for table in ("email_changes", "sso_pending", "sso_logout_tokens"):
                count += await tx.execute(f"DELETE FROM {table} WHERE expires_ms < $1", now_ms)
        return count

    async def purge_conversations(self, before_ms: int) -> int:
        """Private conversations opened before ``before_ms`` with nothing left
        in them (their messages went with the retention period, or none was
        ever written, held or scheduled): who talked with whom, when and how
        much goes with what they said. Returns the number of conversations."""
        async with self._engine.transaction(bulk=True) as tx:
            rows = await tx.fetch(
                "SELECT id, school_id FROM rooms r WHERE kind = 'private' AND created_ms < $1"
                " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.id)"
                " AND NOT EXISTS (SELECT 1 FROM held_messages h WHERE h.room_id = r.id)"
                " AND NOT EXISTS (SELECT 1 FROM scheduled_messages s WHERE s.room_id = r.id)",
                before_ms,
            )
            for r in rows:
                for table in ("read_markers", "room_members", "room_members_explicit", "calls",
                              "notification_outbox", "notifications"):
                    await tx.execute(f"DELETE FROM {table} WHERE room_id = $1", r["id"])
                await tx.execute("DELETE FROM rooms WHERE id = $1", r["id"])
            for school_id in sorted({str(r["school_id"]) for r in rows}):
                await _bump_directory(tx, school_id)
        return len(rows)

    async def purge_archived_rooms(self, now_ms: int) -> int:
        """Delete the rooms of past school years whose keeping period ended,
        with their content and their class. Returns the number of rooms."""
        async with self._engine.transaction(bulk=True) as tx:
            rows = await tx.fetch(
                "SELECT a.room_id, a.school_id, r.class_id FROM archived_rooms a"
                " JOIN rooms r ON r.id = a.room_id WHERE a.keep_until_ms <= $1",
                now_ms,
            )
            schools: set[str] = set()
            classes: set[str] = set()
            for r in rows:
                room_id = r["room_id"]
                await _delete_messages(tx, "room_id = $1", room_id)
                for table in ("scheduled_messages", "read_markers", "calls"):
                    await tx.execute(f"DELETE FROM {table} WHERE room_id = $1", room_id)
                for sql in (
                    "DELETE FROM held_messages WHERE room_id = $1",
                    "DELETE FROM room_members WHERE room_id = $1",
                    "DELETE FROM room_members_explicit WHERE room_id = $1",
                    "DELETE FROM archived_rooms WHERE room_id = $1",
                    "DELETE FROM rooms WHERE id = $1",
                ):
                    await tx.execute(sql, room_id)
                schools.add(str(r["school_id"]))
                if r["class_id"] is not None:
                    classes.add(str(r["class_id"]))
            for class_id in sorted(classes):
                left = await tx.fetchval("SELECT COUNT(*) FROM rooms WHERE class_id = $1", class_id)
                # The class's documents (pupils' work) have their own life:
                # their class row stays while they exist.
                left += await tx.fetchval(
                    "SELECT COUNT(*) FROM documents WHERE class_id = $1", class_id
                )
                if int(left):
                    continue
                await tx.execute("DELETE FROM class_members WHERE class_id = $1", class_id)
                await tx.execute("DELETE FROM class_levels WHERE class_id = $1", class_id)
                await tx.execute(
                    "DELETE FROM comm_links WHERE from_group LIKE $1 OR to_group LIKE $1",
                    class_id + "/%",
                )
                await tx.execute("DELETE FROM classes WHERE id = $1", class_id)
            for school_id in sorted(schools):
                await _bump_directory(tx, school_id)
        return len(rows)

    async def closed_before(self, before_ms: int) -> list[PersonRecord]:
        """Closed accounts whose erasure is due and not yet under way."""
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE active = 0"
                " AND closed_ms IS NOT NULL AND closed_ms <= $1"
                " AND id NOT IN (SELECT person_id FROM erasures) ORDER BY closed_ms",
                before_ms,
            )
        return [_person(r) for r in rows]

    async def retention_counts(self, school_id: str, closed_before_ms: int) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            closed = await tx.fetchval(
                "SELECT COUNT(*) FROM people WHERE school_id = $1 AND active = 0"
                " AND closed_ms IS NOT NULL",
                school_id,
            )
            due = await tx.fetchval(
                "SELECT COUNT(*) FROM people WHERE school_id = $1 AND active = 0"
                " AND closed_ms IS NOT NULL AND closed_ms <= $2",
                school_id, closed_before_ms,
            )
            pending = await tx.fetchval(
                "SELECT COUNT(*) FROM erasures WHERE school_id = $1", school_id
            )
            done = await tx.fetchval(
                "SELECT COUNT(*) FROM erasure_tombstones WHERE school_id = $1", school_id
            )
            archived = await tx.fetchval(
                "SELECT COUNT(*) FROM archived_rooms WHERE school_id = $1", school_id
            )
        return {"closed_accounts": int(closed), "erasures_due": int(due),
                "erasures_pending": int(pending), "erasures_done": int(done),
                "archived_rooms": int(archived)}

    async def school_name(self, school_id: str) -> str:
        async with self._engine.transaction(readonly=True) as tx:
            name = await tx.fetchval("SELECT name FROM schools WHERE id = $1", school_id)
        return str(name or "")
