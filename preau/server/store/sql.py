"""The Store written once in SQL: the per-domain SQL classes, composed.

Each domain's SQL lives in its own module beside its narrow Protocol
(``directory.py``, ``accounts.py``, ``rooms.py``, ``moderation.py``,
``posting.py``, ``reports.py``, ``scheduling.py``, ``charter.py``, ``mood.py``,
``reactions.py``, ``notifications.py``, ``push.py``, ``edits.py``, ``resume.py``,
``schema.py``);
each class there is a mixin over ``SqlBase`` (``engine.py``), which holds the engine it was handed.
``SqlStore`` inherits them all, as Synapse's ``DataStore`` inherits its
per-domain stores, so it implements the whole ``Store`` Protocol with every
method one transaction.

The names other modules imported from here before the split (the engine's
Protocols, ``new_id``, ``login_base``, the migration loader) are re-exported.
"""

from __future__ import annotations

from preau.server.store.accounts import AccountsSql
from preau.server.store.charter import CharterSql
from preau.server.store.directory import DirectorySql, login_base
from preau.server.store.edits import EditsSql
from preau.server.store.engine import Engine, Row, SqlBase, Transaction, new_id
from preau.server.store.moderation import ModerationSql
from preau.server.store.mood import MoodSql
from preau.server.store.notifications import NotificationsSql
from preau.server.store.posting import PostingSql
from preau.server.store.push import PushSql
from preau.server.store.reactions import ReactionsSql
from preau.server.store.reports import ReportsSql
from preau.server.store.resume import ResumeSql
from preau.server.store.rooms import RoomsSql
from preau.server.store.scheduling import SchedulingSql
from preau.server.store.schema import Migration, SchemaSql, load_migrations, split_statements
from preau.server.store.sso import SsoSql

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
    PushSql,
    EditsSql,
    ResumeSql,
    SsoSql,
):
    """The ``Store`` on any ``Engine``; see ``preau.server.store`` for the guarantees.

    Beyond the Protocol's docstrings: ``set_password`` and ``reset_activation``
    raise ``LookupError`` for an unknown person, as ``append_message`` does for
    an unknown room; ``room_head`` of an unknown room is 0.
    """
