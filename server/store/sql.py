"""The Store written once in SQL: the per-domain SQL classes, composed.

Each domain's SQL lives in its own module beside its narrow Protocol
(``directory.py``, ``accounts.py``, ``rooms.py``, ``moderation.py``,
``posting.py``, ``reports.py``, ``scheduling.py``, ``charter.py``, ``mood.py``,
``reactions.py``, ``notifications.py``, ``schema.py``); each class there is
a mixin over ``SqlBase`` (``engine.py``), which holds the engine it was handed.
``SqlStore`` inherits them all, as Synapse's ``DataStore`` inherits its
per-domain stores, so it implements the whole ``Store`` Protocol with every
method one transaction.

The names other modules imported from here before the split (the engine's
Protocols, ``new_id``, ``login_base``, the migration loader) are re-exported.
"""

from __future__ import annotations

from server.store.accounts import AccountsSql
from server.store.charter import CharterSql
from server.store.directory import DirectorySql, login_base
from server.store.engine import Engine, Row, SqlBase, Transaction, new_id
from server.store.moderation import ModerationSql
from server.store.mood import MoodSql
from server.store.notifications import NotificationsSql
from server.store.posting import PostingSql
from server.store.reactions import ReactionsSql
from server.store.reports import ReportsSql
from server.store.rooms import RoomsSql
from server.store.scheduling import SchedulingSql
from server.store.schema import Migration, SchemaSql, load_migrations, split_statements

__all__ = [
    "Engine",
    "Migration",
    "Row",
    "SqlBase",
    "SqlStore",
    "Transaction",
    "load_migrations",
    "login_base",
    "new_id",
    "split_statements",
]


class SqlStore(
    SchemaSql,
    DirectorySql,
    AccountsSql,
    RoomsSql,
    ModerationSql,
    PostingSql,
    ReportsSql,
    SchedulingSql,
    MoodSql,
    CharterSql,
    ReactionsSql,
    NotificationsSql,
):
    """The ``Store`` on any ``Engine``; see ``server.store`` for the guarantees.

    Beyond the Protocol's docstrings: ``set_password`` and ``reset_activation``
    raise ``LookupError`` for an unknown person, as ``append_message`` does for
    an unknown room; ``room_head`` of an unknown room is 0.
    """
