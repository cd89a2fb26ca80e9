"""The content checks as the service sees them (``ContentChecks``): the
checks' one entry point, ``inspect_upload`` (inspect.py), and clamd's client
(scanning.py), built from the settings."""

from __future__ import annotations

from pathlib import Path

from preau.server.attachments.inspect import (
    FileRefused,
    InspectLimits,
    inspect_upload,
    rescan,
    safe_name,
)
from preau.server.attachments.scanning import ClamdScanner, Scanner
from preau.server.attachments.service import Checked, Refused, ScanOutcome
from preau.server.errors import ErrorCode
from preau.server.settings import Settings


def _refused(exc: FileRefused) -> Refused:
    try:
        code = ErrorCode(exc.code)
    except ValueError:  # a code this server does not know: still a refusal
        code = ErrorCode.ATTACHMENT_TYPE_REFUSED
    return Refused(code, exc.signature or exc.detail if code is ErrorCode.ATTACHMENT_INFECTED
                   else exc.detail)


class InspectChecks:
    """``ContentChecks`` over ``inspect_upload`` and a scanner (None: files
    stay pending until one is configured)."""

    def __init__(self, scanner: Scanner | None, limits: InspectLimits) -> None:
        self.scanner = scanner
        self.limits = limits

    @classmethod
    def from_settings(cls, settings: Settings) -> InspectChecks:
        scanner = ClamdScanner(settings.attachment_clamd) if settings.attachment_clamd else None
        return cls(scanner, InspectLimits(max_pixels=settings.attachment_max_pixels))

    async def check(
        self, path: Path, *, name: str, declared_type: str | None, kinds: frozenset[str]
    ) -> Checked:
        try:
            found = await inspect_upload(
                path, declared_name=name, declared_type=declared_type, allowed_kinds=kinds,
                scanner=self.scanner, limits=self.limits)
            shown = safe_name(name, found.mime, found.extension)
        except FileRefused as exc:
            raise _refused(exc) from None
        return Checked(
            kind=found.kind, mime=found.mime, content_path=found.content_path, size=found.size,
            sha256=found.sha256, thumbnail=found.thumbnail, thumbnail_mime=found.thumbnail_mime,
            width=found.width, height=found.height, pending=found.scan != "clean", name=shown,
        )

    async def scanner_up(self) -> bool | None:
        if self.scanner is None:
            return None
        ping = getattr(self.scanner, "ping", None)
        return bool(await ping()) if ping is not None else True

    async def rescan(self, path: Path) -> tuple[ScanOutcome, str]:
        try:
            state = await rescan(path, self.scanner)
        except FileRefused as exc:
            return "infected", exc.signature or exc.detail
        return ("clean", "") if state == "clean" else ("unavailable", "no scanner answered")
