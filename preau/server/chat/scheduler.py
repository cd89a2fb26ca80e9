"""Delivery of messages held back by quiet hours, when the window opens.

Every node runs the loop: the store posts each due message exactly once
(``release_scheduled``: the node whose transaction claims a row posts it), and
the node that posted it publishes it like any message, so subscribers on
every node receive it in seq order and later replays include it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from preau.server.chat.notices import Notices
from preau.server.chat.render import MessageRenderer
from preau.server.clock import Clock
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

    async def release_due(self) -> int:
        """Post and publish what is due now; the number posted by this node."""
        total = 0
        while True:
            posted = await self._store.release_scheduled(
                self._clock.now_ms(), BATCH, lambda: "m_" + secrets.token_urlsafe(12)
            )
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
            if len(posted) < BATCH:
                return total

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
