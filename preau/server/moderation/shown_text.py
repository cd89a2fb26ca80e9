"""Text a person makes others see outside a message — a call's name, a
document's title or version name — goes through the same gates as a message
(issue 21): not while the account is paused or the school's messaging is
suspended for their profile, and not with a word the school blocks or holds.

A name has no moderation queue to wait in, so a *hold* word refuses it like a
*block* word; an *alert* word is let through (as in a message, it only tells
the moderators, and a name is not worth an alert). Teachers and staff are not
filtered, as in messages.
"""

from __future__ import annotations

from preau.server.directory.model import Member, Profile
from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation import wordfilter
from preau.server.moderation.wordfilter import FilterAction
from preau.server.store import Store

_UNFILTERED = (Profile.TEACHER, Profile.STAFF)


class ShownTextGate:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def check(self, member: Member, text: str) -> None:
        """``suspended`` or ``filtered`` if ``member`` may not show ``text`` now."""
        if member.profile in await self._store.messaging_suspensions(member.school_id):
            raise PreauError(ErrorCode.SUSPENDED, "messaging is suspended in this school for now")
        paused = await self._store.paused_accounts(member.school_id)
        if any(p.person_id == member.id for p in paused):
            raise PreauError(ErrorCode.SUSPENDED, "your account is paused: the school's "
                             "administrators were alerted")
        if member.profile in _UNFILTERED:
            return
        found = wordfilter.match(await self._store.word_lists(member.school_id), text)
        if found is not None and found.action in (FilterAction.BLOCK, FilterAction.HOLD):
            raise PreauError(ErrorCode.FILTERED, "this name contains words not allowed in "
                             "this school")
