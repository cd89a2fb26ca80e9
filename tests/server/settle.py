"""In-process tests read notifications right after a post: with
``notify_before_returning``, ``chat.send`` waits for the fan-out of its
message, which the server itself runs after the sender's acknowledgement
(the notification outbox, preau/server/notifications/service.py). The order
the server really follows, and its crash safety, are tested in
tests/server/notifications/test_outbox.py on services left as they are."""

from __future__ import annotations

from typing import Any

from preau.server.services import Services


def notify_before_returning(services: Services) -> Services:
    send = services.chat.send

    async def send_then_settle(*args: Any, **kwargs: Any) -> Any:
        result = await send(*args, **kwargs)
        await services.notifications.settled()
        return result

    services.chat.send = send_then_settle  # type: ignore[method-assign]
    return services
