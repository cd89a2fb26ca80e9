"""What a file is, from its bytes, against an allow-list (never from its name).

A positive allow-list, not a guesser: each accepted format is recognised by
its signature *and* a look at its structure (an MP4's track handlers, a
WebM's track types, an office file's package parts), and everything else is
refused, naming what it looks like when that is known (a program, a web
page, an archive) so the person understands. Why not a detection library
(libmagic, puremagic, filetype): docs/decisions.md, "Attachments: type
detection".

Kinds and formats (docs/attachments.md, "What is accepted"):

- document: PDF (without JavaScript, launch actions or embedded files),
  OpenDocument text/spreadsheet/presentation/drawing and Office Open XML
  (.docx/.xlsx/.pptx) without macros, ActiveX, embedded OLE objects or
  external templates, plain text (UTF-8, or Windows-1252 as old Windows
  editors write it) that is not markup or a script;
- image: JPEG, PNG, GIF, WebP (then decoded and re-encoded by images.py);
- audio: MP3, AAC (ADTS), M4A (MP4 with sound tracks only), Ogg (Opus,
  Vorbis, FLAC), WAV, WebM with audio tracks only;
- video: MP4 and QuickTime (.mov, what phones record) with a video track,
  WebM with a video track.

Pure functions over a path; blocking reads (the caller runs them off the
event loop, inspect.py). Nothing is decompressed beyond small bounded reads.
"""

from __future__ import annotations

import codecs
import lzma
import mmap
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from preau.server.attachments.refused import TYPE_REFUSED, FileRefused

KINDS: Final = frozenset({"document", "image", "audio", "video"})

HEAD_BYTES: Final = 64 * 1024
MAX_ZIP_ENTRIES: Final = 5000
MAX_ZIP_PART_BYTES: Final = 4 * 1024 * 1024  # a package's XML part read to decide
MAX_MOOV_BYTES: Final = 64 * 1024 * 1024
MAX_EBML_SCAN: Final = 4 * 1024 * 1024
OBJSTM_INFLATE_BUDGET: Final = 64 * 1024 * 1024  # PDF object streams inflated, in all
OBJSTM_MAX_BYTES: Final = 8 * 1024 * 1024  # one PDF object stream, inflated


@dataclass(frozen=True)
class Sniffed:
    """An accepted file's kind, its media type and the usual extension."""

    kind: str
    mime: str
    extension: str


def refuse(detail: str) -> FileRefused:
    return FileRefused(TYPE_REFUSED, detail)


def sniff(path: Path) -> Sniffed:
    """The kind and type of the file at ``path``, or :class:`FileRefused`
    (``attachment.type_refused``) with what it looks like."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        if not head:
            raise refuse("empty file")
        refused = _known_refused(head)
        if refused is not None:
            raise refuse(refused)
        if head.startswith(b"%PDF-"):
            _check_pdf(f)
            return Sniffed("document", "application/pdf", ".pdf")
        image = _image(head)
        if image is not None:
            return image
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return Sniffed("audio", "audio/wav", ".wav")
        if head.startswith(b"OggS"):
            return _ogg(head)
        if head.startswith(b"\x1a\x45\xdf\xa3"):
            return _ebml(f)
        if head[4:8] == b"ftyp":
            return _iso_media(f, head)
        audio = _mpeg_audio(f, head)
        if audio is not None:
            return audio
        if head.startswith(b"PK\x03\x04"):
            return _office(path)
    return _text(path, head)


# ---------------------------------------------------------------------------
# What is refused, named


_REFUSED_SIGNATURES: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"\x7fELF", "executable program (ELF)"),
    (0, b"MZ", "executable program (Windows)"),
    (0, b"\xcf\xfa\xed\xfe", "executable program (macOS)"),
    (0, b"\xce\xfa\xed\xfe", "executable program (macOS)"),
    (0, b"\xca\xfe\xba\xbe", "executable program (Java or macOS)"),
    (0, b"\x00asm", "executable program (WebAssembly)"),
    (0, b"dex\n", "executable program (Android)"),
    (0, b"#!", "script"),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00", "Windows shortcut"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
     "old Office format (.doc, .xls, .ppt): save it as .docx, .odt or PDF"),
    (0, b"{\\rtf", "RTF document: save it as .docx, .odt or PDF"),
    (0, b"Rar!", "archive (RAR)"),
    (0, b"7z\xbc\xaf\x27\x1c", "archive (7-Zip)"),
    (0, b"\x1f\x8b", "archive (gzip)"),
    (0, b"BZh", "archive (bzip2)"),
    (0, b"\xfd7zXZ\x00", "archive (xz)"),
    (0, b"\x28\xb5\x2f\xfd", "archive (zstd)"),
    (0, b"MSCF", "archive (cabinet)"),
    (257, b"ustar", "archive (tar)"),
    (0, b"FWS", "Flash animation"),
    (0, b"CWS", "Flash animation"),
    (0, b"ZWS", "Flash animation"),
    (0, b"PK\x05\x06", "empty zip archive"),
    (0, b"8BPS", "Photoshop image: export it as JPEG or PNG"),
    (0, b"II*\x00", "TIFF image: export it as JPEG or PNG"),
    (0, b"MM\x00*", "TIFF image: export it as JPEG or PNG"),
    (0, b"BM", "BMP image: export it as JPEG or PNG"),
)


def _known_refused(head: bytes) -> str | None:
    for offset, signature, label in _REFUSED_SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            # Two letters could begin a text ("MZ", "BM"): those headers
            # hold zero bytes, which text never does.
            if len(signature) == 2 and signature.isalpha() and b"\x00" not in head[:64]:
                continue
            return label
    return None


# ---------------------------------------------------------------------------
# Images (only recognised here; images.py decodes them)


def _image(head: bytes) -> Sniffed | None:
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", ".jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", ".png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "image/gif", ".gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp", ".webp")
    return None


# ---------------------------------------------------------------------------
# PDF: refused when it carries active content


# A name token: "/" then regular characters, "#xx" escapes allowed
# (PDF 32000-1 7.3.5), so "/J#61vaScript" is "/JavaScript".
_PDF_NAME = re.compile(rb"/((?:[A-Za-z0-9]|#[0-9A-Fa-f]{2})+)")
_PDF_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_ACTIVE: Final = {
    b"JavaScript": "PDF with JavaScript",
    b"JS": "PDF with JavaScript",
    b"Launch": "PDF that launches programs",
    b"EmbeddedFile": "PDF with files embedded in it",
    b"EmbeddedFiles": "PDF with files embedded in it",
    b"RichMedia": "PDF with embedded media (Flash)",
    b"ImportData": "PDF that imports data",
}
_PDF_STREAM = re.compile(rb"(?<!end)stream\r?\n")


def _pdf_active(data: bytes | mmap.mmap) -> str | None:
    for match in _PDF_NAME.finditer(data):
        name = match.group(1)
        if b"#" in name:
            name = _PDF_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name)
        label = _PDF_ACTIVE.get(name)
        if label is not None:
            return label
    return None


def _check_pdf(f: BinaryIO) -> None:
    """Names of active content, in the file and in its compressed object
    streams (where PDF 1.5+ writers put most dictionaries), are refused."""
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        label = _pdf_active(data)
        if label is not None:
            raise refuse(label)
        budget = OBJSTM_INFLATE_BUDGET
        for match in _PDF_STREAM.finditer(data):
            # The stream's dictionary ends just before the keyword.
            start = max(0, match.start() - 1024)
            before = data[start:match.start()]
            dictionary = before[before.rfind(b"obj") + 3:] if b"obj" in before else before
            if b"/ObjStm" not in dictionary or b"/FlateDecode" not in dictionary:
                continue
            inflater = zlib.decompressobj()
            body = bytearray()
            pos = match.end()
            limit = min(budget, OBJSTM_MAX_BYTES)
            try:
                while not inflater.eof and pos < len(data) and len(body) < limit:
                    body += inflater.decompress(data[pos:pos + 65_536], limit - len(body))
                    pos += 65_536
                    if inflater.unconsumed_tail:
                        break
            except zlib.error:
                raise refuse("damaged PDF (an object stream does not inflate)") from None
            if len(body) >= limit:
                raise refuse("PDF whose object streams are too large to check")
            budget -= len(body)
            label = _pdf_active(bytes(body))
            if label is not None:
                raise refuse(label)


# ---------------------------------------------------------------------------
# Audio and video


def _ogg(head: bytes) -> Sniffed:
    # The first page's first packet says the codec (RFC 3533: 27-byte header,
    # then the segment table).
    if len(head) < 28:
        raise refuse("truncated Ogg file")
    segments = head[26]
    packet = head[27 + segments:27 + segments + 8]
    if packet.startswith((b"OpusHead", b"\x01vorbis", b"\x7fFLAC")):
        return Sniffed("audio", "audio/ogg", ".ogg")
    raise refuse("Ogg file that is not Opus, Vorbis or FLAC audio")


def _read_vint(data: bytes, pos: int) -> tuple[int, int, bool]:
    """An EBML variable-length integer at ``pos``: (value, length, unknown size)."""
    if pos >= len(data):
        raise IndexError(pos)
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        raise IndexError(pos)
    value = first & (mask - 1)
    for byte in data[pos + 1:pos + length]:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _read_id(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 4 and not first & mask:
        mask >>= 1
        length += 1
    if length > 4 or pos + length > len(data):
        raise IndexError(pos)
    return int.from_bytes(data[pos:pos + length], "big"), length


_EBML_MASTERS: Final = {
    0x1A45DFA3,  # EBML header
    0x18538067,  # Segment
    0x1654AE6B,  # Tracks
    0xAE,  # TrackEntry
}
_EBML_DOCTYPE: Final = 0x4282
_EBML_TRACKTYPE: Final = 0x83
_EBML_CLUSTER: Final = 0x1F43B675


def _ebml(f: BinaryIO) -> Sniffed:
    """WebM: the DocType, then the track types (1 video, 2 audio), read from the
    first megabytes (MediaRecorder writes Tracks before the first Cluster,
    with unknown sizes)."""
    f.seek(0)
    data = f.read(MAX_EBML_SCAN)
    doctype = b""
    tracks: set[int] = set()
    pos = 0
    try:
        while pos < len(data):
            element, id_len = _read_id(data, pos)
            size, size_len, unknown = _read_vint(data, pos + id_len)
            body = pos + id_len + size_len
            if element == _EBML_CLUSTER:
                break
            if element in _EBML_MASTERS:
                pos = body  # descend
                continue
            if element == _EBML_DOCTYPE:
                doctype = data[body:body + size]
            elif element == _EBML_TRACKTYPE:
                tracks.add(int.from_bytes(data[body:body + size], "big"))
            if unknown:
                break
            pos = body + size
    except IndexError:
        pass
    if doctype != b"webm":
        raise refuse("Matroska video (.mkv): convert it to MP4 or WebM"
                     if doctype == b"matroska" else "unknown EBML file")
    if 1 in tracks:
        return Sniffed("video", "video/webm", ".webm")
    if 2 in tracks:
        return Sniffed("audio", "audio/webm", ".webm")
    raise refuse("WebM file without audio or video tracks")


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO base media boxes between ``start`` and ``end``: (type, body start, body end)."""
    pos = start
    count = 0
    while pos + 8 <= end and count < 10_000:
        count += 1
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return
        size, box = struct.unpack(">I4s", header[:8])
        body = pos + 8
        if size == 1:
            if len(header) < 16:
                return
            size = struct.unpack(">Q", header[8:16])[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos:
            raise refuse("damaged MP4 file")
        yield box, body, min(pos + size, end)
        pos += size


def _handlers(data: bytes) -> set[bytes]:
    """The handler types (``vide``, ``soun``...) of every track in a moov body."""
    found: set[bytes] = set()

    def walk(start: int, end: int, depth: int) -> None:
        pos = start
        while pos + 8 <= end and depth < 8:
            size, box = struct.unpack(">I4s", data[pos:pos + 8])
            body = pos + 8
            if size == 1 and pos + 16 <= end:
                size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
                body = pos + 16
            elif size == 0:
                size = end - pos
            if size < body - pos:
                return
            stop = min(pos + size, end)
            if box in (b"trak", b"mdia"):
                walk(body, stop, depth + 1)
            elif box == b"hdlr" and body + 12 <= stop:
                found.add(data[body + 8:body + 12])
            pos += size

    walk(0, len(data), 0)
    return found


# HEIF stills (ISO 23008-12): an iPhone's HEIC photo, an AVIF image. Their
# sequences (bursts, animations) are refused: only one picture is kept.
_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis"})
_HEIF_STILL: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"avif"})
_HEIF_SEQUENCE: Final = frozenset({b"msf1", b"hevc", b"hevx", b"avis"})


def _heif(f: BinaryIO, head: bytes) -> Sniffed | None:
    """A HEIC or AVIF still image (converted to JPEG or PNG by images.py),
    told by the ftyp box's brands; None: not HEIF."""
    major = head[8:12]
    if major in _HEIF_SEQUENCE:
        raise refuse("image sequence (HEIF or AVIF burst or animation): share one photo")
    if major not in _HEIF_STILL:
        return None
    size = int.from_bytes(head[:4], "big")
    if not 16 <= size <= 4096:
        raise refuse("damaged HEIF image")
    f.seek(0)
    box = f.read(size)
    brands = {box[i:i + 4] for i in range(16, len(box) - 3, 4)} | {major}
    if b"avif" in brands:
        return Sniffed("image", "image/avif", ".avif")
    if brands & _HEIC_BRANDS:
        return Sniffed("image", "image/heic", ".heic")
    raise refuse("HEIF image that is neither HEIC nor AVIF")


def _iso_media(f: BinaryIO, head: bytes) -> Sniffed:
    major = head[8:12]
    still = _heif(f, head)
    if still is not None:
        return still
    end = f.seek(0, 2)
    handlers: set[bytes] = set()
    for box, body, stop in _boxes(f, 0, end):
        if box == b"moov":
            if stop - body > MAX_MOOV_BYTES:
                raise refuse("MP4 file whose index is too large")
            f.seek(body)
            handlers = _handlers(f.read(stop - body))
            break
    quicktime = major == b"qt  "
    if b"vide" in handlers:
        if quicktime:
            return Sniffed("video", "video/quicktime", ".mov")
        return Sniffed("video", "video/mp4", ".mp4")
    if b"soun" in handlers:
        return Sniffed("audio", "audio/mp4", ".m4a")
    raise refuse("MP4 file without audio or video tracks")


# MPEG audio frame headers (ISO 11172-3 / 13818-3): bit rates (kbit/s) for
# layer III, MPEG-1 then MPEG-2/2.5, and sample rates per version.
_MP3_BITRATES: Final = (
    (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
)
_MP3_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_AAC_RATES: Final = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                     11025, 8000, 7350)


def _mp3_frame(data: bytes, pos: int) -> int | None:
    """The length of the MP3 (layer III) frame at ``pos``, or None."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 3
    layer = (data[pos + 1] >> 1) & 3
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    padding = (data[pos + 2] >> 1) & 1
    bitrate = _MP3_BITRATES[0 if version == 3 else 1][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    return (144 if version == 3 else 72) * bitrate // rate + padding


def _adts_frame(data: bytes, pos: int) -> int | None:
    """The length of the AAC ADTS frame at ``pos``, or None."""
    if pos + 7 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xF6 != 0xF0:
        return None
    if (data[pos + 2] >> 2) & 0xF >= len(_AAC_RATES):
        return None
    length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
    return length if length >= 7 else None


def _mpeg_audio(f: BinaryIO, head: bytes) -> Sniffed | None:
    """MP3 (after an optional ID3v2 tag) or AAC ADTS: three frames in a row."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = 0
        for byte in head[6:10]:
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
        f.seek(start)
        data = f.read(16 * 1024)
        start = 0
        # Some writers pad after the tag: skip zeros.
        while start < len(data) and data[start] == 0:
            start += 1
    else:
        data = head
    for frame, sniffed in ((_mp3_frame, Sniffed("audio", "audio/mpeg", ".mp3")),
                           (_adts_frame, Sniffed("audio", "audio/aac", ".aac"))):
        pos, frames = start, 0
        while frames < 3 and pos < len(data):
            length = frame(data, pos)
            if length is None:
                break
            frames += 1
            pos += length
        # Three frames in a row, or two that end a short file.
        if frames >= 3 or (frames >= 2 and pos >= len(data)):
            return sniffed
    if head.startswith(b"ID3"):
        raise refuse("ID3 tag without MP3 audio after it")
    return None


# ---------------------------------------------------------------------------
# Office files (zip packages)


_ODF_TYPES: Final = {
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/vnd.oasis.opendocument.presentation": ".odp",
    "application/vnd.oasis.opendocument.graphics": ".odg",
}
_OOXML_MAIN: Final = (
    ("wordprocessingml.document.main+xml",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("spreadsheetml.sheet.main+xml",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("presentationml.presentation.main+xml",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
)
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>", re.IGNORECASE)
_RISKY_EXTERNAL = re.compile(rb"/(attachedTemplate|oleObject|frame|subDocument)\"", re.IGNORECASE)


def _zip_entry_count(path: Path) -> int:
    """The entry count from the end-of-central-directory record, read before
    zipfile builds its list (a zip of millions of empty entries stays cheap)."""
    with path.open("rb") as f:
        end = f.seek(0, 2)
        f.seek(max(0, end - 65_557))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        raise refuse("damaged zip file")
    total: int = struct.unpack("<H", tail[at + 10:at + 12])[0]
    return total


def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_ZIP_PART_BYTES:
        raise refuse(f"office file whose part {info.filename!r} is too large to check")
    with archive.open(info) as part:
        return part.read(MAX_ZIP_PART_BYTES + 1)[:MAX_ZIP_PART_BYTES]


def _office(path: Path) -> Sniffed:
    if _zip_entry_count(path) > MAX_ZIP_ENTRIES:
        raise refuse("zip file with too many entries")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise refuse("zip file with too many entries")
            if any(info.flag_bits & 1 for info in infos):
                raise refuse("encrypted zip file (it cannot be checked)")
            names = {info.filename: info for info in infos}
            if "mimetype" in names:
                return _odf(archive, names)
            if "[Content_Types].xml" in names:
                return _ooxml(archive, names)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError,
            zlib.error, lzma.LZMAError, ValueError, RuntimeError, struct.error,
            UnicodeError) as exc:
        # Damaged archives fail in the decompressors too (fuzzed:
        # tests/server/attachments/test_fuzz_checks.py).
        raise refuse(f"damaged zip file ({type(exc).__name__})") from None
    raise refuse("zip archive: send the files themselves, or a PDF")


def _odf(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> Sniffed:
    mimetype = _read_part(archive, names["mimetype"]).decode("ascii", "replace").strip()
    extension = _ODF_TYPES.get(mimetype)
    if extension is None:
        raise refuse(f"package of type {mimetype[:80]!r}: not an accepted document")
    for name in names:
        if name.startswith(("Basic/", "Scripts/")):
            raise refuse("document with macros: save it without them (or as PDF)")
    return Sniffed("document", mimetype, extension)


def _ooxml(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> Sniffed:
    content_types = _read_part(archive, names["[Content_Types].xml"])
    lowered = content_types.lower()
    if b"macroenabled" in lowered or b"vbaproject" in lowered:
        raise refuse("document with macros: save it as .docx, .xlsx, .pptx or PDF")
    for name in names:
        low = name.lower()
        if low.endswith(".bin") or "/activex/" in low or low.startswith("activex/"):
            raise refuse("document with embedded programs or objects (macros, ActiveX, "
                         "OLE): save it as PDF")
        if low.endswith(".rels"):
            for rel in _RELATIONSHIP.findall(_read_part(archive, names[name])):
                if b"external" in rel.lower() and _RISKY_EXTERNAL.search(rel):
                    raise refuse("document that loads content from outside: save it as PDF")
    for marker, mime, extension in _OOXML_MAIN:
        if marker.encode() in lowered:
            return Sniffed("document", mime, extension)
    raise refuse("Office package that is not a document, spreadsheet or presentation")


# ---------------------------------------------------------------------------
# Plain text


_MARKUP_START = re.compile(r"\A\s*<")
_MARKUP_ANYWHERE = re.compile(
    r"<\s*(script|html|svg|iframe|object|embed|body|head|meta|\?php|!doctype\s+html)\b",
    re.IGNORECASE)
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _text(path: Path, head: bytes) -> Sniffed:
    """Plain text: it decodes (UTF-8, else Windows-1252) with no control
    character but tab, line breaks and form feed, and is neither markup nor a
    script (served as text/plain either way, but a page or an SVG saved as
    .txt is still a page once downloaded)."""
    for encoding, mime in (("utf-8-sig", "text/plain; charset=utf-8"),
                           ("cp1252", "text/plain; charset=windows-1252")):
        decoder = codecs.getincrementaldecoder(encoding)()
        first = ""
        try:
            with path.open("rb") as f:
                while chunk := f.read(256 * 1024):
                    text = decoder.decode(chunk)
                    if _TEXT_CONTROLS.search(text):
                        raise UnicodeError("control character")
                    if not first:
                        first = text[:HEAD_BYTES]
                decoder.decode(b"", final=True)
        except UnicodeError:
            continue
        if _MARKUP_START.match(first) or _MARKUP_ANYWHERE.search(first):
            raise refuse("web page, SVG or XML file (markup is not accepted)")
        return Sniffed("document", mime, ".txt")
    raise refuse("unknown file type" if head else "empty file")
