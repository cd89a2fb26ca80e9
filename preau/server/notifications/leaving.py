"""What holds for a mail, a digest or a push whenever it is (again) about to
leave Préau (docs/protocol.md, "Notifications"), shared by the notification
service (a job's first attempt) and the senders (``email.py``, ``push.py``:
retries, and the checks made as a job leaves).

- Quiet hours: a job due while the school's quiet hours hold is due when its
  delivery window opens (``after_quiet_hours``: one rule for the first
  attempt, every retry and the per-minute deferral); an admin's urgent
  message's jobs go through them. A job about to leave inside them (its
  node died mid-send and its lease ran out at night) waits too
  (``still_held``).
- The channel: a job leaves only while the person's channel for its kind
  (their choice, the school's rule: ``preferences.effective_channel``) still
  sends it that way. An unsubscribe link, a preference changed to ``in_app``
  or ``never``, a kind the school forced off: what was already queued stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from preau.server.directory.service import Directory
from preau.server.notifications import preferences
from preau.server.store import Store
from preau.server.store.notifications import Notification, after_quiet_hours

# When something due then may leave (ms → ms).
Hold = Callable[[int], int]

UNSUBSCRIBED = "unsubscribed"  # why a job was dropped (email_jobs/push_jobs.last_error)
QUIET_HOURS = "quiet hours"  # why a job claimed again at night waits (last_error)

# The channels that send each sort of job.
MAILED = frozenset({"email"})
DIGESTED = frozenset({"daily", "weekly"})
PUSHED = frozenset({"in_app", "email"})  # told at once; digests and never push nothing


def at_once(due: int) -> int:
    """No quiet hours: an admin's urgent message's jobs, as the message itself."""
    return due


async def school_hours(directory: Directory, school_id: str) -> tuple[str, Hold] | None:
    """The school's time zone, and when something due then may leave: its
    quiet hours hold mails and pushes until the window opens, as they hold
    messages to families. None for a school that is gone."""
    view = await directory.school(school_id)
    if view is None:
        return None
    timezone, setting = view.school.timezone, view.school.quiet_hours

    def held(due: int) -> int:
        return after_quiet_hours(due, timezone, setting)

    return timezone, held


async def hold(directory: Directory, school_id: str, *, urgent: bool = False) -> Hold:
    """``school_hours``' rule, or none for an urgent message's job (or a
    school that is gone)."""
    found = None if urgent else await school_hours(directory, school_id)
    return at_once if found is None else found[1]


async def still_held(
    directory: Directory, school_id: str, now_ms: int, *, urgent: bool = False
) -> int | None:
    """When a job leaving at ``now_ms`` must leave instead, if ``now_ms``
    falls in its school's quiet hours (the window's opening); None: it may
    leave now. Jobs are queued and retried outside them, but one whose node
    died while sending it comes back at its lease's end, whatever the hour."""
    held = await hold(directory, school_id, urgent=urgent)
    due = held(now_ms)
    return due if due > now_ms else None


async def channels_now(
    store: Store, directory: Directory, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The channel of each (person, kind) of ``wanted`` now: their choice
    and their school's rule, read from the store (another node may have
    changed them). A person the directory no longer knows is left out (the
    visibility check drops their jobs: out of reach)."""
    pairs = sorted(set(wanted))
    members = {}
    for person_id in sorted({p for p, _ in pairs}):
        member = await directory.member(person_id)
        if member is not None:
            members[person_id] = member
    if not members:
        return {}
    chosen = await store.notification_preferences(sorted(members))
    rules = {school_id: await store.school_notification_rules(school_id)
             for school_id in sorted({m.school_id for m in members.values()})}
    return {
        (person_id, kind): preferences.effective_channel(
            member.profile, kind, chosen.get(person_id, {}).get(kind),
            rules[member.school_id].get(kind))
        for person_id, kind in pairs if (member := members.get(person_id)) is not None}


async def channels_as_they_leave(
    store: Store, directory: Directory, notifications: Iterable[Notification]
) -> dict[tuple[str, str], str]:
    """``channels_now`` for a batch about to leave, the directory read again
    first if another process changed it (a ``preau import`` beside the
    nodes): once per batch, for this check and the visibility check after."""
    await directory.refresh_changed()
    return await channels_now(store, directory, [(n.person_id, n.kind) for n in notifications])
