"""Why a file is refused: a stable code (the wire protocol's, docs/protocol.md)
and a detail for the logs and the person (English here; the transports
translate it, preau/server/messages.py)."""

from __future__ import annotations

from typing import Final

TYPE_REFUSED: Final = "attachment.type_refused"
TYPE_MISMATCH: Final = "attachment.type_mismatch"
INFECTED: Final = "attachment.infected"
IMAGE_INVALID: Final = "attachment.image_invalid"
IMAGE_TOO_LARGE: Final = "attachment.image_too_large"
NAME_INVALID: Final = "attachment.name_invalid"

CODES: Final = frozenset({TYPE_REFUSED, TYPE_MISMATCH, INFECTED, IMAGE_INVALID,
                          IMAGE_TOO_LARGE, NAME_INVALID})


class FileRefused(Exception):
    """The file (or its name) may not be stored: ``code`` is one of ``CODES``."""

    def __init__(self, code: str, detail: str, *, signature: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.signature = signature  # ``attachment.infected``: the antivirus' name for it
