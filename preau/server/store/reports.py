"""Reports and oversight in SQL: members' reports, the audit log (read and
purged), the messaging kill switch, paused accounts and word lists.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from preau.server.directory.model import Profile
from preau.server.moderation.wordfilter import DEFAULT_LISTS, FilterAction, WordLists
from preau.server.store.engine import Row, SqlBase, Transaction
from preau.server.store.records import (
    AuditAction,
    AuditEntry,
    AuditQuery,
    PausedAccount,
    Report,
    ReportStatus,
)
from preau.server.store.rows import audit, opt_int, opt_str


class ReportStore(Protocol):
    """Reports, the audit log and the school-wide safeguards."""

    async def audit_entries(self, school_id: str, query: AuditQuery) -> list[AuditEntry]:
        """A school's audit log, newest first, filtered by ``query``."""

    async def purge_moderation_records(self, before_ms: int) -> int:
        """Delete what is kept only for audit and older than ``before_ms``:
        audit entries, originals of redacted messages, decided held messages,
        resolved reports.
        Return how many rows went."""

    async def set_messaging_suspension(
        self,
        school_id: str,
        profiles: Sequence[Profile],
        suspended: bool,
        actor_id: str,
        reason: str | None,
        now_ms: int,
    ) -> list[Profile]:
        """Suspend (or resume) posting for ``profiles`` in a school, audited in the
        same transaction (only actual changes). Return the profiles suspended now."""

    async def messaging_suspensions(self, school_id: str) -> list[Profile]: ...

    async def word_lists(self, school_id: str) -> WordLists:
        """A school's word lists (``DEFAULT_LISTS`` until it replaced them)."""

    async def set_word_lists(
        self, school_id: str, lists: WordLists, actor_id: str, now_ms: int
    ) -> None:
        """Replace a school's three word lists, audited in the same transaction."""

    async def create_report(
        self, report_id: str, room_id: str, seq: int, reporter_id: str, reason: str | None,
        now_ms: int,
    ) -> tuple[Report, bool] | None:
        """Report message ``seq`` (``None``: no such message, or not a message).
        One report per message and reporter: reporting again returns the first
        (and ``False``)."""

    async def reports(
        self, school_id: str, status: ReportStatus = ReportStatus.OPEN, limit: int = 100
    ) -> list[Report]:
        """A school's reports with ``status``, oldest first."""

    async def report(self, report_id: str) -> Report | None: ...

    async def resolve_report(
        self, report_id: str, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        """Resolve an open report and every other open report of the same
        message (``status`` kept or deleted; the redaction itself is
        ``redact_message``), each audited. Return those resolved now (empty:
        already resolved). Raises ``LookupError`` for an unknown report."""

    async def resolve_message_reports(
        self, room_id: str, seq: int, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        """Resolve every open report of message ``seq`` (a moderator deleted
        it from the room rather than from the reports queue), each audited."""

    async def reports_by(self, reporter_id: str, limit: int = 100) -> list[Report]:
        """The reports a person made, newest first, with their outcome."""

    async def pause_account(
        self, person_id: str, school_id: str, reason: str, details: dict[str, Any], now_ms: int
    ) -> bool:
        """Stop a person posting (``suspended``, checked in every post's
        transaction) until resumed; audited. False: already paused."""

    async def resume_account(
        self, person_id: str, school_id: str, actor_id: str, reason: str | None, now_ms: int
    ) -> bool:
        """Lift a pause (audited); False: the person was not paused."""

    async def paused_accounts(self, school_id: str) -> list[PausedAccount]:
        """The school's paused accounts, oldest first."""


class ReportsSql(SqlBase, ReportStore):
    """Reports, audit log, kill switch, paused accounts and word lists in SQL."""

    async def audit_entries(self, school_id: str, query: AuditQuery) -> list[AuditEntry]:
        if query.limit <= 0:
            return []
        args: list[Any] = [school_id, query.limit]
        where = ["a.school_id = $1"]
        for column, value in (
            ("a.room_id", query.room_id),
            ("a.actor_id", query.actor_id),
            ("a.target_person_id", query.target_person_id),
            ("a.action", None if query.action is None else query.action.value),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if query.before is not None:
            args.append(query.before)
            where.append(f"a.seq < ${len(args)}")
        sql = (
            "SELECT a.id, a.school_id, a.seq, a.room_id, a.actor_id, a.action,"
            " a.target_person_id,"
            " a.target_seq, a.target_held_id, a.reason, a.details, a.created_ms,"
            # A private conversation's text never reaches the audit log's
            # readers (docs/conversations.md): they are not its members.
            " CASE WHEN rm.kind = 'private' THEN NULL"
            "  ELSE COALESCE(r.body, h.body, e.body) END AS content"
            " FROM audit_log a"
            " LEFT JOIN rooms rm ON rm.id = a.room_id"
            " LEFT JOIN redacted_messages r ON r.room_id = a.room_id AND r.seq = a.target_seq"
            "  AND a.action IN ('message.delete', 'message.recall')"
            " LEFT JOIN held_messages h ON h.id = a.target_held_id"
            # An edit: the text it replaced (its time is unique per message).
            " LEFT JOIN message_edits e ON e.room_id = a.room_id AND e.seq = a.target_seq"
            "  AND a.action = 'message.edit' AND e.edited_ms = a.created_ms"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY a.seq DESC LIMIT $2"
        )
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        return [
            AuditEntry(
                id=r["id"],
                school_id=r["school_id"],
                seq=int(r["seq"]),
                room_id=opt_str(r["room_id"]),
                actor_id=r["actor_id"],
                action=AuditAction(r["action"]),
                target_person_id=opt_str(r["target_person_id"]),
                target_seq=opt_int(r["target_seq"]),
                target_held_id=opt_str(r["target_held_id"]),
                reason=opt_str(r["reason"]),
                details=orjson.loads(r["details"]),
                created_ms=int(r["created_ms"]),
                content=opt_str(r["content"]),
            )
            for r in rows
        ]

    async def purge_moderation_records(self, before_ms: int) -> int:
        async with self._engine.transaction() as tx:
            return (
                await tx.execute("DELETE FROM audit_log WHERE created_ms < $1", before_ms)
                + await tx.execute(
                    "DELETE FROM redacted_messages WHERE redacted_ms < $1", before_ms
                )
                + await tx.execute(
                    "DELETE FROM message_edits WHERE edited_ms < $1", before_ms
                )
                + await tx.execute(
                    "DELETE FROM held_messages WHERE status <> 'pending' AND decided_ms < $1",
                    before_ms,
                )
                + await tx.execute(
                    "DELETE FROM reports WHERE status <> 'open' AND resolved_ms < $1", before_ms
                )
            )


    async def set_messaging_suspension(
        self,
        school_id: str,
        profiles: Sequence[Profile],
        suspended: bool,
        actor_id: str,
        reason: str | None,
        now_ms: int,
    ) -> list[Profile]:
        async with self._engine.transaction() as tx:
            changed: list[str] = []
            for profile in sorted(set(profiles)):
                if suspended:
                    count = await tx.execute(
                        "INSERT INTO messaging_suspensions"
                        " (school_id, profile, actor_id, reason, created_ms)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (school_id, profile) DO NOTHING",
                        school_id, profile.value, actor_id, reason, now_ms,
                    )
                else:
                    count = await tx.execute(
                        "DELETE FROM messaging_suspensions WHERE school_id = $1 AND profile = $2",
                        school_id, profile.value,
                    )
                if count:
                    changed.append(profile.value)
            if changed:
                await audit(
                    tx, school_id, None, actor_id,
                    AuditAction.MESSAGING_SUSPEND if suspended else AuditAction.MESSAGING_RESUME,
                    now_ms, reason=reason, details={"profiles": changed},
                )
            rows = await tx.fetch(
                "SELECT profile FROM messaging_suspensions WHERE school_id = $1 ORDER BY profile",
                school_id,
            )
        return [Profile(r["profile"]) for r in rows]

    async def pause_account(
        self, person_id: str, school_id: str, reason: str, details: dict[str, Any], now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            inserted = await tx.execute(
                "INSERT INTO paused_accounts (person_id, school_id, paused_ms, reason, details)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (person_id) DO NOTHING",
                person_id, school_id, now_ms, reason, orjson.dumps(details).decode(),
            )
            if inserted:
                await audit(tx, school_id, None, person_id, AuditAction.ACCOUNT_PAUSE, now_ms,
                             target_person_id=person_id, reason=reason, details=details)
        return bool(inserted)

    async def resume_account(
        self, person_id: str, school_id: str, actor_id: str, reason: str | None, now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM paused_accounts WHERE person_id = $1 AND school_id = $2",
                person_id, school_id,
            )
            if deleted:
                await audit(tx, school_id, None, actor_id, AuditAction.ACCOUNT_RESUME, now_ms,
                             target_person_id=person_id, reason=reason)
        return bool(deleted)

    async def paused_accounts(self, school_id: str) -> list[PausedAccount]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, paused_ms, reason, details FROM paused_accounts"
                " WHERE school_id = $1 ORDER BY paused_ms, person_id",
                school_id,
            )
        return [PausedAccount(str(r["person_id"]), int(r["paused_ms"]), str(r["reason"]),
                              orjson.loads(r["details"])) for r in rows]

    async def messaging_suspensions(self, school_id: str) -> list[Profile]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT profile FROM messaging_suspensions WHERE school_id = $1 ORDER BY profile",
                school_id,
            )
        return [Profile(r["profile"]) for r in rows]

    # -- word filter ----------------------------------------------------------
    async def word_lists(self, school_id: str) -> WordLists:
        async with self._engine.transaction(readonly=True) as tx:
            return await read_word_lists(tx, school_id)

    async def set_word_lists(
        self, school_id: str, lists: WordLists, actor_id: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for action in FilterAction:
                words = orjson.dumps(list(lists.entries(action))).decode()
                await tx.execute(
                    "INSERT INTO word_filters (school_id, action, words, updated_by, updated_ms)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (school_id, action) DO UPDATE"
                    " SET words = excluded.words, updated_by = excluded.updated_by,"
                    " updated_ms = excluded.updated_ms",
                    school_id, action.value, words, actor_id, now_ms,
                )
            await audit(
                tx, school_id, None, actor_id, AuditAction.WORD_FILTER_CHANGE, now_ms,
                details={a.value: len(lists.entries(a)) for a in FilterAction},
            )

    # -- reports -----------------------------------------------------------------
    async def create_report(
        self, report_id: str, room_id: str, seq: int, reporter_id: str, reason: str | None,
        now_ms: int,
    ) -> tuple[Report, bool] | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT r.school_id, r.last_seq FROM messages m JOIN rooms r ON r.id = m.room_id"
                " WHERE m.room_id = $1 AND m.seq = $2 AND m.kind = 'message'",
                room_id, seq,
            )
            if row is None:
                return None
            # The context stops at what the room held now: the reporter's view.
            inserted = await tx.execute(
                "INSERT INTO reports (id, school_id, room_id, seq, reporter_id, reason, created_ms,"
                " context_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (room_id, seq, reporter_id) DO NOTHING",
                report_id, str(row["school_id"]), room_id, seq, reporter_id, reason, now_ms,
                int(row["last_seq"]),
            )
            found = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports"
                " WHERE room_id = $1 AND seq = $2 AND reporter_id = $3",
                room_id, seq, reporter_id,
            )
        assert found is not None
        return _report(found), bool(inserted)

    async def reports(
        self, school_id: str, status: ReportStatus = ReportStatus.OPEN, limit: int = 100
    ) -> list[Report]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE school_id = $1 AND status = $2"
                " ORDER BY created_ms, id LIMIT $3",
                school_id, status.value, limit,
            )
        return [_report(r) for r in rows]

    async def report(self, report_id: str) -> Report | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = $1", report_id
            )
        return None if row is None else _report(row)

    async def resolve_report(
        self, report_id: str, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        assert status is not ReportStatus.OPEN
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = $1", report_id
            )
            if row is None:
                raise LookupError(f"no report {report_id!r}")
            report = _report(row)
            return await _resolve_open(tx, report.room_id, report.seq, actor_id, status, now_ms)

    async def resolve_message_reports(
        self, room_id: str, seq: int, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        assert status is not ReportStatus.OPEN
        async with self._engine.transaction() as tx:
            return await _resolve_open(tx, room_id, seq, actor_id, status, now_ms)

    async def reports_by(self, reporter_id: str, limit: int = 100) -> list[Report]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE reporter_id = $1"
                " ORDER BY created_ms DESC, id LIMIT $2",
                reporter_id, limit,
            )
        return [_report(r) for r in rows]


async def _resolve_open(
    tx: Transaction, room_id: str, seq: int, actor_id: str, status: ReportStatus, now_ms: int
) -> list[Report]:
    rows = await tx.fetch(
        "UPDATE reports SET status = $3, resolved_by = $4, resolved_ms = $5"
        " WHERE room_id = $1 AND seq = $2 AND status = 'open'"
        f" RETURNING {_REPORT_COLUMNS}",
        room_id, seq, status.value, actor_id, now_ms,
    )
    resolved = sorted((_report(r) for r in rows), key=lambda r: (r.created_ms, r.id))
    for done in resolved:
        await audit(
            tx, done.school_id, done.room_id, actor_id, AuditAction.REPORT_RESOLVE,
            now_ms, target_person_id=done.reporter_id, target_seq=done.seq,
            details={"report": done.id, "outcome": status.value},
        )
    return resolved


_REPORT_COLUMNS = (
    "id, school_id, room_id, seq, reporter_id, reason, created_ms, status, resolved_by,"
    " resolved_ms, context_to"
)


def _report(r: Row) -> Report:
    return Report(
        id=str(r["id"]), school_id=str(r["school_id"]), room_id=str(r["room_id"]),
        seq=int(r["seq"]), reporter_id=str(r["reporter_id"]), reason=r["reason"],
        created_ms=int(r["created_ms"]), status=ReportStatus(r["status"]),
        resolved_by=r["resolved_by"],
        resolved_ms=None if r["resolved_ms"] is None else int(r["resolved_ms"]),
        context_to=None if r["context_to"] is None else int(r["context_to"]),
    )


async def read_word_lists(tx: Transaction, school_id: str) -> WordLists:
    """A school's lists; the defaults while it has none of its own."""
    rows = await tx.fetch(
        "SELECT action, words FROM word_filters WHERE school_id = $1", school_id
    )
    if not rows:
        return DEFAULT_LISTS
    return _word_lists(tuple(sorted((str(r["action"]), str(r["words"])) for r in rows)))


@functools.lru_cache(maxsize=256)
def _word_lists(rows: tuple[tuple[str, str], ...]) -> WordLists:
    """The lists of these rows, one value per version of them: a post on the
    general path reads its school's lists, and the same rows give back the
    same value, whose index for matching is already built (wordfilter.py)."""
    return WordLists(**{action: tuple(orjson.loads(words)) for action, words in rows})
