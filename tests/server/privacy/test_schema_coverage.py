"""Every column that can hold a person's id is one erasure knows about.

A migration that adds such a column (``*person_id``, ``*_by``, ``sender_id``…)
fails this test until preau/server/store/privacy.py erases or anonymises it and the
column is added below.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from preau.server.store.factory import open_store

PERSON_COLUMN = re.compile(
    r"(^|_)(person|sender|actor|reporter|parent|child|author|user|member|opener)(_id)?$|_by$"
)

# (table, column) → what the erasure does with it (preau/server/store/privacy.py).
HANDLED = {
    ("people", "id"): "row deleted (identity step)",
    ("class_members", "person_id"): "deleted",
    ("guardianships", "parent_id"): "deleted",
    ("guardianships", "child_id"): "deleted",
    ("sessions", "person_id"): "deleted (close step)",
    ("password_resets", "person_id"): "deleted (identity step)",
    ("room_members", "person_id"): "deleted",
    ("room_members_explicit", "person_id"): "deleted (private step)",
    ("messages", "sender_id"): "pseudonym, or deleted",
    ("held_messages", "sender_id"): "pseudonym, or deleted",
    ("held_messages", "decided_by"): "pseudonym",
    ("redacted_messages", "sender_id"): "pseudonym",
    ("message_edits", "sender_id"): "pseudonym",
    ("reports", "reporter_id"): "pseudonym",
    ("reports", "resolved_by"): "pseudonym",
    ("audit_log", "actor_id"): "pseudonym",
    ("rooms", "opener_id"): "pseudonym",
    ("audit_log", "target_person_id"): "pseudonym",
    ("messaging_suspensions", "actor_id"): "pseudonym",
    ("word_filters", "updated_by"): "pseudonym",
    ("access_journal", "actor_id"): "pseudonym (subject too)",
    ("scheduled_messages", "sender_id"): "pseudonym, or deleted",
    ("message_acks", "person_id"): "deleted",
    ("read_markers", "person_id"): "deleted",
    ("document_edits", "person_id"): "pseudonym",
    ("document_clients", "person_id"): "pseudonym (her copies stay hers)",
    ("document_refused_copies", "person_id"): "pseudonym",
    ("document_people", "person_id"): "deleted",
    ("document_versions", "created_by"): "pseudonym",
    ("documents", "created_by"): "pseudonym",
    ("paused_accounts", "person_id"): "deleted (identity step)",
    ("charter_acceptances", "person_id"): "deleted (identity step)",
    ("charters", "published_by"): "pseudonym",
    ("moods", "person_id"): "deleted (identity step)",
    ("reactions", "person_id"): "deleted (contributions step)",
    ("notifications", "person_id"): "deleted (identity step)",
    ("notifications", "actor_id"): "pseudonym",
    ("notification_preferences", "person_id"): "deleted (identity step)",
    ("person_emails", "person_id"): "deleted (identity step)",
    ("email_jobs", "person_id"): "deleted (identity step)",
    ("push_subscriptions", "person_id"): "deleted (identity step)",
    ("push_jobs", "person_id"): "deleted (identity step)",
    ("email_changes", "person_id"): "deleted (identity step)",
    ("person_settings", "person_id"): "deleted (identity step)",
    ("erasures", "person_id"): "the job itself, deleted when done",
    ("attachments", "author_id"): "pseudonym; deleted with the messages (sweep)",
}


async def test_erasure_covers_every_person_column(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.migrate()
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns = {
            (table, row[1])
            for table in tables
            for row in db.execute(f"PRAGMA table_info({table})")
        }
    person_columns = {(t, c) for t, c in columns if PERSON_COLUMN.search(c)}
    person_columns.add(("people", "id"))
    assert person_columns - set(HANDLED) == set(), "new person columns: erase them"
    # And nothing listed here has disappeared unnoticed.
    assert set(HANDLED) <= columns
