"""The Store: everything Préau keeps, behind narrow async interfaces.

Two implementations share one schema and one set of versioned migrations
(``preau/server/store/migrations``): SQLite for the embedded default and PostgreSQL
(asyncpg) for several nodes. ``preau.server.store.factory.open_store(url)`` picks one
from a URL. The contract suite (tests/server/store/test_*_contract.py) runs the
same tests on both.

One module per domain, each holding its narrow Protocol beside its SQL:

==========================  ====================  ===============================
module                      Protocol              what
==========================  ====================  ===============================
``schema.py``               ``SchemaStore``       engine, migrations, ping, close
``directory.py``            ``DirectoryStore``    schools, classes, people, rules,
                                                  imports, school settings
``accounts.py``             ``AccountStore``      credentials, activation, sessions
``rooms.py``                ``RoomStore``         rooms, conversations, the
                                                  timeline, history
``moderation.py``           ``ModerationStore``   room policies, held messages,
                                                  redactions, members' states
``posting.py``              ``PostingStore``      a post's unit of work (the
                                                  decision: preau/server/chat/posting.py)
``reports.py``              ``ReportStore``       reports, audit log, kill switch,
                                                  paused accounts, word lists
``scheduling.py``           ``SchedulingStore``   quiet hours, acknowledgements,
                                                  read markers
``charter.py``              ``CharterStore``      charter versions, acceptances
``mood.py``                 ``MoodStore``         classes' levels, the mood of the day
``reactions.py``            ``ReactionStore``     reactions on messages
``notifications.py``        ``NotificationStore`` the notification centre
``push.py``                 ``PushStore``         Web Push: VAPID key, devices, pushes
``edits.py``                ``EditStore``         editing one's own message
``resume.py``               ``ResumeStore``       what a client coming back with
                                                  ``since`` missed, in one read
``sso.py``                  ``SsoStore``          single sign-on: logins under way,
                                                  IdP sessions, logout tokens
==========================  ====================  ===============================

``Store`` is the Protocol that inherits them all; ``SqlStore`` (``sql.py``)
composes the per-domain SQL classes the way Synapse composes its DataStore,
so ``store.append_message(...)`` works on the one object the app opens, while a
service may type its dependency with the narrow Protocol it uses. The
documents, calls and privacy stores (``documents.py``, ``calls.py``,
``privacy.py``) are built on the same engine (``store.engine``). Records
(dataclasses, enums) are in ``records.py`` and re-exported here.

Guarantees every implementation gives:

- each method is one transaction: it commits entirely or not at all;
- per-room sequence numbers are gapless and strictly increasing: when a message
  with ``seq = n`` is committed, every ``seq < n`` of that room is committed
  too, so a reader that sees ``n`` may fill any gap below it from the store;
- ``append_message`` is idempotent by ``(room, sender, txn)``: a retry returns
  the message first stored, with ``created=False``, and allocates no sequence;
- times are integer milliseconds since the epoch, passed in by the caller
  (the store never reads the clock, so tests control time);
- moderation (``redact_message``, ``decide_held``, ``moderate_member``,
  ``set_room_policy``) checks the room's policy and the member's state
  *inside* the transaction that applies the action, and writes the action's
  audit entry in that same transaction: what one node commits, every node's
  next call sees, with no cache in between. Posting does the same through
  ``posting()``, a unit of work whose reads and writes
  ``preau.server.chat.posting.post_message`` decides between while it is open;
- a redacted message keeps its place (seq) but loses its body: the original
  moves to a table read only by ``audit_entries``, so no replay or history
  can return it.
"""

from __future__ import annotations

from typing import Protocol

from preau.server.store.accounts import AccountStore
from preau.server.store.charter import CharterStore
from preau.server.store.directory import DirectoryStore
from preau.server.store.edits import EditStore
from preau.server.store.moderation import ModerationStore
from preau.server.store.mood import MoodStore
from preau.server.store.notifications import NotificationStore
from preau.server.store.posting import PostingStore
from preau.server.store.push import PushStore
from preau.server.store.reactions import ReactionStore
from preau.server.store.records import (
    MEMBER_ACTIONS,
    AttachmentRef,
    AuditAction,
    AuditEntry,
    AuditQuery,
    Author,
    CreatedAccount,
    Credentials,
    DecideResult,
    HeldMessage,
    HeldStatus,
    ImportBatch,
    ImportResult,
    Link,
    MemberChange,
    Message,
    MessageKind,
    PausedAccount,
    PersonRow,
    PostOptions,
    PostResult,
    RedactResult,
    Report,
    ReportStatus,
    ScheduledMessage,
    SchoolView,
    SessionRecord,
)
from preau.server.store.reports import ReportStore
from preau.server.store.resume import Resume, ResumeStore
from preau.server.store.rooms import RoomStore
from preau.server.store.scheduling import SchedulingStore
from preau.server.store.schema import SchemaStore
from preau.server.store.sso import SsoCandidate, SsoPending, SsoStore

__all__ = [
    "MEMBER_ACTIONS",
    "AccountStore",
    "AttachmentRef",
    "AuditAction",
    "AuditEntry",
    "AuditQuery",
    "Author",
    "CharterStore",
    "CreatedAccount",
    "Credentials",
    "DecideResult",
    "DirectoryStore",
    "EditStore",
    "HeldMessage",
    "HeldStatus",
    "ImportBatch",
    "ImportResult",
    "Link",
    "MemberChange",
    "Message",
    "MessageKind",
    "ModerationStore",
    "MoodStore",
    "NotificationStore",
    "PausedAccount",
    "PersonRow",
    "PostOptions",
    "PostResult",
    "PostingStore",
    "PushStore",
    "ReactionStore",
    "RedactResult",
    "Report",
    "ReportStatus",
    "ReportStore",
    "Resume",
    "ResumeStore",
    "RoomStore",
    "ScheduledMessage",
    "SchedulingStore",
    "SchemaStore",
    "SchoolView",
    "SessionRecord",
    "SsoCandidate",
    "SsoPending",
    "SsoStore",
    "Store",
]


class Store(
    SchemaStore,
    DirectoryStore,
    AccountStore,
    RoomStore,
    ModerationStore,
    PostingStore,
    ReportStore,
    SchedulingStore,
    CharterStore,
    MoodStore,
    ReactionStore,
    NotificationStore,
    PushStore,
    EditStore,
    ResumeStore,
    SsoStore,
    Protocol,
):
    """Narrow, async, one transaction per method (see the module docstring):
    every domain's Protocol, as the one object the app opens."""
