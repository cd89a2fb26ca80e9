"""Delivery of messages held back by quiet hours, when the window opens.

Every node runs the loop: the store posts each due message exactly once
(``release_waiting``: the node whose transaction claims a row posts it), and
the node that posted it publishes it like any message, so subscribers on
every node receive it in seq order and later replays include it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from preau.server.chat.notices import Notices
from preau.server.chat.render import MessageRenderer
from preau.server.clock import Clock
from preau.server.live.channels import Audience
from preau.server.live.events import encode
from preau.server.live.hub import Hub
from preau.server.log_records import RetryLog
from preau.server.store import Store

log = logging.getLogger(__name__)

BATCH = 200


class ScheduledDelivery:
    def __init__(
        self, store: Store, hub: Hub, render: MessageRenderer, clock: Clock,
        notices: Notices | None = None,
    ) -> None:
        self._store = store
        self._hub = hub
        self._render = render
        self._clock = clock
        self.notices = notices  # the notification centre (the composition root sets it)
        # Whether a person may still post in a room (ChatService.may_still_post,
        # set by the composition root): a waiting message whose author may not
        # is withdrawn, not delivered. None: every due message goes.
        self.may_post: Callable[[str, str], Awaitable[bool]] | None = None

    async def release_due(self) -> int:
        """Post and publish what is due now; the number posted by this node.
        What its author may no longer post (moved to another class, removed
        from the room, a relation ended) is withdrawn first."""
        total = 0
        while True:
            due = await self._store.due_scheduled(self._clock.now_ms(), BATCH)
            posted = []
            withdrawn = 0
            for waiting in due:
                if self.may_post is not None and not await self.may_post(
                        waiting.sender_id, waiting.room_id):
                    await self._withdraw(waiting.room_id, waiting.id, waiting.sender_id)
                    withdrawn += 1
                    continue
                message = await self._store.release_waiting(
                    waiting.room_id, waiting.id, "m_" + secrets.token_urlsafe(12))
                if message is not None:  # else another node posted it
                    posted.append(message)
            for message in posted:
                await self._hub.publish_message(
                    message.room_id, message.seq, await self._render.frame(message)
                )
                if self.notices is not None:
                    await self.notices.posted_now(message.room_id, message.seq)
                    await self.notices.about_room(
                        "scheduled.delivered", message.room_id, seq=message.seq,
                        to=[message.sender_id])
            total += len(posted)
            # A full batch: more may be due, unless this pass moved none of
            # it (then whatever is left is another node's to post).
            if len(due) < BATCH or not (posted or withdrawn):
                return total

    async def _withdraw(self, room_id: str, scheduled_id: str, sender_id: str) -> None:
        waiting = await self._store.cancel_scheduled(room_id, scheduled_id, sender_id)
        if waiting is None:
            return  # released or withdrawn by another node meanwhile
        log.info("room %s: a waiting message withdrawn, its author may no longer post there",
                 room_id)
        await self._hub.publish_to(room_id, encode({
            "ev": "chat.unscheduled", "room": room_id, "id": waiting.id, "txn": waiting.txn}),
            Audience(frozenset({sender_id}), moderators=True))

    async def run(self, interval_s: float) -> None:
        """Release every ``interval_s`` (a task of the lifespan)."""
        retries = RetryLog(log, "scheduled delivery")
        while True:
            try:
                released = await self.release_due()
                if released:
                    log.info("quiet hours over: %d scheduled message(s) delivered", released)
            except Exception as exc:
                retries.failed(exc, interval_s)
            else:
                retries.succeeded()
            await asyncio.sleep(interval_s)
