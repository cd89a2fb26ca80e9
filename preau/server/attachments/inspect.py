"""An uploaded file, checked before anyone else sees it: the one entry point.

``inspect_upload`` runs, in order: the name (``safe_name``), the type from the
bytes (sniff.py) against the kinds allowed here and the type the browser
declared, the image re-encoding and thumbnail (images.py), the digest, then
the antivirus (scanning.py). The CPU and disk work runs in worker threads
(``asyncio.to_thread``: the default executor, a handful of threads, so a
class uploading photos at once queues rather than decoding thirty images
together); the event loop only waits.

The answer is :class:`Inspected`, or :class:`FileRefused` with a stable code
(refused.py). A scanner that is absent, down or failing gives
``scan="pending"``, never ``"clean"``: the caller holds the file and calls
``rescan`` later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from preau.server.attachments.images import CleanImage, ImageLimits, clean_image
from preau.server.attachments.refused import (
    INFECTED,
    NAME_INVALID,
    TYPE_MISMATCH,
    TYPE_REFUSED,
    FileRefused,
)
from preau.server.attachments.scanning import Clean, Infected, Scanner
from preau.server.attachments.sniff import KINDS, Sniffed, sniff

__all__ = ["KINDS", "FileRefused", "InspectLimits", "Inspected", "declared_kind",
           "inspect_upload", "rescan", "safe_name"]

log = logging.getLogger(__name__)

ScanState = Literal["clean", "pending"]

MAX_NAME_BYTES: Final = 255


@dataclass(frozen=True)
class InspectLimits:
    """Budgets for the checks (the service fills them from its settings)."""

    max_pixels: int = 50_000_000
    max_frames: int = 500
    max_animation_pixels: int = 40_000_000
    thumbnail_px: int = 320

    @property
    def image(self) -> ImageLimits:
        return ImageLimits(max_pixels=self.max_pixels, max_frames=self.max_frames,
                           max_animation_pixels=self.max_animation_pixels,
                           thumbnail_px=self.thumbnail_px)


@dataclass(frozen=True)
class Inspected:
    """What may be stored. ``content_path`` is the uploaded file itself, or for
    an image a new file beside it (``<upload>.clean``): the caller owns both and
    deletes them once stored."""

    kind: str
    mime: str
    content_path: Path
    size: int
    sha256: str
    thumbnail: bytes | None
    thumbnail_mime: str | None
    width: int | None
    height: int | None
    scan: ScanState
    extension: str = ""


# ---------------------------------------------------------------------------
# Names


_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Extensions that say the truth about each accepted type; any other gets the
# canonical one appended ("devoir.exe" that is a JPEG becomes "devoir.exe.jpg").
_ALIASES: Final = {
    "image/jpeg": (".jpg", ".jpeg", ".jfif", ".jpe"),
    "audio/mp4": (".m4a", ".mp4", ".aac"),
    "audio/ogg": (".ogg", ".opus", ".oga"),
    "audio/webm": (".webm", ".weba"),
    "video/mp4": (".mp4", ".m4v"),
    "video/quicktime": (".mov", ".qt"),
    "text/plain": (".txt", ".csv", ".tsv", ".md", ".text", ".log"),
}


def safe_name(declared_name: str, mime: str | None = None, extension: str | None = None) -> str:
    """The file's name as it will be shown and offered for download.

    Refused (``attachment.name_invalid``): empty, ``.``/``..``, a path separator,
    a control character, a bidi override or isolate (``"\\u202egnp.exe"``
    reads "exe.png"), more than 255 bytes in UTF-8, or not text. Kept:
    NFC-normalised, surrounding spaces trimmed. With the sniffed ``mime`` and
    its canonical ``extension``, an extension that lies about the type gets the
    true one appended.
    """
    try:
        name = unicodedata.normalize("NFC", declared_name).strip()
        encoded = name.encode("utf-8")
    except (UnicodeError, TypeError):
        raise FileRefused(NAME_INVALID, "the file name is not text") from None
    if not name or set(name) <= {"."}:
        raise FileRefused(NAME_INVALID, "the file has no name")
    if "/" in name or "\\" in name:
        raise FileRefused(NAME_INVALID, "the file name holds a path separator")
    for char in name:
        if char in _BIDI_CONTROLS:
            raise FileRefused(NAME_INVALID, "the file name holds a text direction override")
        if unicodedata.category(char) == "Cc":
            raise FileRefused(NAME_INVALID, "the file name holds a control character")
    if len(encoded) > MAX_NAME_BYTES:
        raise FileRefused(NAME_INVALID, "the file name is longer than 255 bytes")
    if mime is None or not extension:
        return name
    base = mime.split(";")[0].strip()
    accepted = _ALIASES.get(base, (extension,))
    dot = name.rfind(".")
    if dot > 0 and name[dot:].lower() in accepted:
        return name
    stem = name
    while len((stem + extension).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + extension


# ---------------------------------------------------------------------------
# The declared type


_DOCUMENT_TYPES: Final = frozenset({
    "application/pdf", "application/x-pdf", "application/rtf",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
})


def declared_kind(declared_type: str | None) -> str | None:
    """The kind the browser's declared type names, or None when it names none
    (absent, ``application/octet-stream``, anything else)."""
    if not declared_type:
        return None
    base = declared_type.split(";")[0].strip().lower()
    top = base.partition("/")[0]
    if top in ("image", "audio", "video"):
        return top
    if base == "application/ogg":
        return "audio"
    if (top == "text" or base in _DOCUMENT_TYPES
            or base.startswith(("application/vnd.oasis.opendocument.",
                                "application/vnd.openxmlformats-officedocument."))):
        return "document"
    return None


def _check_declared(declared_type: str | None, sniffed: Sniffed) -> None:
    """A declared type of another kind than the bytes is refused (a "photo"
    that is a PDF); within a kind, or between audio and video (a recording's
    container says little), the bytes decide and the declared type is dropped."""
    declared = declared_kind(declared_type)
    if declared is None or declared == sniffed.kind:
        return
    if {declared, sniffed.kind} <= {"audio", "video"}:
        return
    raise FileRefused(TYPE_MISMATCH,
                      f"declared as {declared_type}, but the file is {sniffed.mime}")


# ---------------------------------------------------------------------------
# The checks


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


_CONVERTED_EXTENSIONS: Final = {"image/jpeg": ".jpg", "image/png": ".png"}


async def inspect_upload(
    path: Path,
    *,
    declared_name: str,
    declared_type: str | None,
    allowed_kinds: frozenset[str],
    scanner: Scanner | None,
    limits: InspectLimits,
) -> Inspected:
    """Check the uploaded file at ``path`` (see the module's docstring)."""
    safe_name(declared_name)
    sniffed = await asyncio.to_thread(sniff, path)
    if sniffed.kind not in allowed_kinds:
        raise FileRefused(TYPE_REFUSED, f"{sniffed.kind} files are not accepted here")
    _check_declared(declared_type, sniffed)
    content_path = path
    thumbnail: bytes | None = None
    thumbnail_mime: str | None = None
    width: int | None = None
    height: int | None = None
    clean: CleanImage | None = None
    try:
        if sniffed.kind == "image":
            content_path = path.with_name(path.name + ".clean")
            clean = await asyncio.to_thread(clean_image, path, content_path, sniffed.mime,
                                            limits.image)
            thumbnail, thumbnail_mime = clean.thumbnail, clean.thumbnail_mime
            width, height = clean.width, clean.height
        size, sha256 = await asyncio.to_thread(_digest, content_path)
        scan = await rescan(content_path, scanner)
    except BaseException:
        if content_path != path:
            content_path.unlink(missing_ok=True)
        raise
    mime, extension = sniffed.mime, sniffed.extension
    if clean is not None and clean.mime != mime:  # HEIC or AVIF, stored as JPEG or PNG
        mime, extension = clean.mime, _CONVERTED_EXTENSIONS[clean.mime]
    return Inspected(kind=sniffed.kind, mime=mime, content_path=content_path,
                     size=size, sha256=sha256, thumbnail=thumbnail,
                     thumbnail_mime=thumbnail_mime, width=width, height=height, scan=scan,
                     extension=extension)


async def rescan(path: Path, scanner: Scanner | None) -> ScanState:
    """Scan ``path``: ``"clean"``, ``"pending"`` (no scanner, or it is down or
    failing), or :class:`FileRefused` ``attachment.infected``."""
    if scanner is None:
        return "pending"
    try:
        result = await scanner.scan(path)
    except Exception:
        # A Scanner must not raise for its own failures; one that does still
        # never lets a file through.
        log.exception("the antivirus scanner failed: the file stays pending")
        return "pending"
    if isinstance(result, Clean):
        return "clean"
    if isinstance(result, Infected):
        raise FileRefused(INFECTED, f"virus found: {result.signature}",
                          signature=result.signature)
    log.info("the antivirus scanner is unavailable (%s): the file stays pending", result.reason)
    return "pending"
