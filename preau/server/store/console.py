"""The admin console's writes in SQL (preau/server/console/service.py decides
who may): move a pupil, set a teacher's classes or a parent's children,
edit a person, close an account. Each is one transaction that audits itself
and bumps the school's directory version (every node reloads the school and
re-checks its live sockets: the rights follow at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preau.server.directory.model import RoomKind
from preau.server.store.engine import SqlBase, Transaction, new_id
from preau.server.store.records import AuditAction, Link
from preau.server.store.rows import audit


async def _bump(tx: Transaction, school_id: str) -> None:
    await tx.execute(
        "UPDATE schools SET directory_version = directory_version + 1 WHERE id = $1", school_id)


class ConsoleStore(SqlBase):
    """People and their links, as the school's admins change them one by one."""

    async def pending_people(self, school_id: str) -> dict[str, int]:
        """Person id → activation code expiry (0: none) of the school's open
        accounts never activated: no password, and not signed in through an
        identity provider either (that consumes the code: preau/server/store/sso.py)."""
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT id, activation_expires_ms FROM people WHERE school_id = $1"
                " AND active = 1 AND password_hash IS NULL"
                " AND (activation_hash IS NOT NULL OR activated_ms IS NULL)", school_id)
        return {r["id"]: int(r["activation_expires_ms"] or 0) for r in rows}

    async def emails(self, school_id: str) -> dict[str, str]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, email FROM person_emails WHERE school_id = $1", school_id)
        return {r["person_id"]: r["email"] for r in rows}

    async def set_classes(
        self, school_id: str, person_id: str, class_ids: list[str], actor_id: str,
        now_ms: int, details: dict[str, Any],
    ) -> None:
        """A pupil's class (one) or a teacher's classes: replaced, audited."""
        async with self._engine.transaction() as tx:
            await tx.execute("DELETE FROM class_members WHERE person_id = $1", person_id)
            await tx.executemany(
                "INSERT INTO class_members (class_id, person_id) VALUES ($1, $2)",
                [(c, person_id) for c in class_ids])
            await tx.execute("UPDATE people SET updated_ms = $2 WHERE id = $1", person_id, now_ms)
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.PERSON_MOVE, now_ms,
                        target_person_id=person_id, details=details)

    async def set_children(
        self, school_id: str, parent_id: str, child_ids: list[str], actor_id: str, now_ms: int,
    ) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("DELETE FROM guardianships WHERE parent_id = $1", parent_id)
            await tx.executemany(
                "INSERT INTO guardianships (parent_id, child_id) VALUES ($1, $2)",
                [(parent_id, c) for c in child_ids])
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.PARENT_LINK, now_ms,
                        target_person_id=parent_id, details={"children": len(child_ids)})

    async def edit_person(
        self, school_id: str, person_id: str, actor_id: str, now_ms: int, *,
        first_name: str | None, last_name: str | None, is_admin: bool | None,
        email: str | None, clear_email: bool,
    ) -> None:
        changed: dict[str, Any] = {}
        async with self._engine.transaction() as tx:
            for column, value in (("first_name", first_name), ("last_name", last_name),
                                  ("is_admin", None if is_admin is None else int(is_admin))):
                if value is not None:
                    await tx.execute(
                        f"UPDATE people SET {column} = $2, updated_ms = $3 WHERE id = $1",
                        person_id, value, now_ms)
                    changed[column] = True
            if clear_email:
                await tx.execute("DELETE FROM person_emails WHERE person_id = $1", person_id)
                changed["email"] = True
            elif email is not None:
                await tx.execute(
                    "INSERT INTO person_emails (person_id, school_id, email, updated_ms)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE"
                    " SET email = $3, updated_ms = $4, bouncing_ms = NULL",
                    person_id, school_id, email, now_ms)
                changed["email"] = True
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.PERSON_EDIT, now_ms,
                        target_person_id=person_id, details={"changed": sorted(changed)})

    async def close_person(
        self, school_id: str, person_id: str, actor_id: str, now_ms: int, reason: str | None,
    ) -> list[str]:
        """Close an open account (as a rollover closes those who left: the
        erasure clock starts); its sessions are revoked. Returns their hashes."""
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE people SET active = 0, closed_ms = $2, updated_ms = $2"
                " WHERE id = $1 AND active = 1", person_id, now_ms)
            if not changed:
                return []
            await tx.execute("DELETE FROM class_members WHERE person_id = $1", person_id)
            hashes = [str(r["token_hash"]) for r in await tx.fetch(
                "SELECT token_hash FROM sessions WHERE person_id = $1 AND revoked = 0",
                person_id)]
            await tx.execute("UPDATE sessions SET revoked = 1 WHERE person_id = $1", person_id)
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.PERSON_CLOSE, now_ms,
                        target_person_id=person_id, reason=reason)
        return hashes

    async def create_class(
        self, school_id: str, name: str, kind: str, links: Callable[[str, str], list[Link]],
        actor_id: str, now_ms: int,
    ) -> str | None:
        """A class or a group with its room and default links (``links(school,
        class)``, which must not call the store), audited; None when the
        school already has one of that name."""
        async with self._engine.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM classes WHERE school_id = $1 AND name = $2",
                                 school_id, name) is not None:
                return None
            class_id = new_id()
            await tx.execute(
                "INSERT INTO classes (id, school_id, name, created_ms, kind)"
                " VALUES ($1, $2, $3, $4, $5)", class_id, school_id, name, now_ms, kind)
            await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, class_id, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                new_id(), school_id, RoomKind.CLASS.value, name, class_id, now_ms)
            await tx.executemany(
                "INSERT INTO comm_links (school_id, from_group, to_group) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [(school_id, a, b) for a, b in links(school_id, class_id)])
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.CLASS_CREATE, now_ms,
                        details={"name": name, "kind": kind})
        return class_id

    # -- communication rules ------------------------------------------------------------
    async def links(self, school_id: str) -> set[Link]:
        """The school's stored communication links (directed group pairs)."""
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT from_group, to_group FROM comm_links WHERE school_id = $1", school_id)
        return {(str(r["from_group"]), str(r["to_group"])) for r in rows}

    async def set_link(
        self, school_id: str, link: Link, present: bool, actor_id: str, now_ms: int,
        details: dict[str, Any],
    ) -> bool:
        """Add (``present``) or remove one link, audited with the directory
        bumped; False when it already was so (nothing written, nothing audited)."""
        async with self._engine.transaction() as tx:
            there = await tx.fetchval(
                "SELECT 1 FROM comm_links WHERE school_id = $1 AND from_group = $2"
                " AND to_group = $3", school_id, *link) is not None
            if there == present:
                return False
            if present:
                await tx.execute(
                    "INSERT INTO comm_links (school_id, from_group, to_group)"
                    " VALUES ($1, $2, $3)", school_id, *link)
            else:
                await tx.execute(
                    "DELETE FROM comm_links WHERE school_id = $1 AND from_group = $2"
                    " AND to_group = $3", school_id, *link)
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id,
                        AuditAction.RULE_ADD if present else AuditAction.RULE_REMOVE, now_ms,
                        details=details)
        return True

    async def reset_links(
        self, school_id: str, defaults: set[Link], actor_id: str, now_ms: int,
    ) -> tuple[int, int]:
        """Replace the school's links by ``defaults``, audited; (added, removed).
        Nothing written (nor audited) when they already are the defaults."""
        async with self._engine.transaction() as tx:
            rows = await tx.fetch(
                "SELECT from_group, to_group FROM comm_links WHERE school_id = $1", school_id)
            now = {(str(r["from_group"]), str(r["to_group"])) for r in rows}
            added, removed = defaults - now, now - defaults
            if not added and not removed:
                return 0, 0
            await tx.executemany(
                "DELETE FROM comm_links WHERE school_id = $1 AND from_group = $2"
                " AND to_group = $3", [(school_id, a, b) for a, b in sorted(removed)])
            await tx.executemany(
                "INSERT INTO comm_links (school_id, from_group, to_group) VALUES ($1, $2, $3)",
                [(school_id, a, b) for a, b in sorted(added)])
            await _bump(tx, school_id)
            await audit(tx, school_id, None, actor_id, AuditAction.RULES_RESET, now_ms,
                        details={"added": len(added), "removed": len(removed)})
        return len(added), len(removed)

    async def audit_action(
        self, school_id: str, actor_id: str, action: AuditAction, now_ms: int,
        target_person_id: str | None = None, details: dict[str, Any] | None = None,
    ) -> None:
        """An action done through other stores' writes (an import, a creation)."""
        async with self._engine.transaction() as tx:
            await audit(tx, school_id, None, actor_id, action, now_ms,
                        target_person_id=target_person_id, details=details)
