"""The port through which documents announce what concerns people (a document
shared with them, locked); ``preau/server/notifications/service.py`` implements it,
the composition root (preau/server/app.py) hands it in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class DocumentNotices(Protocol):
    async def about_document(
        self, kind: str, document_id: str, school_id: str, title: str, *,
        actor_id: str | None, to: Iterable[str],
    ) -> None:
        """Notify ``to`` of ``kind`` about the document; never the actor, never
        anyone who may not open it now."""
