"""Files of every accepted and refused kind, made by the tests (no binary
fixtures in the repository): each builder returns the file's bytes."""

from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib

import pillow_heif
from PIL import Image

# ---------------------------------------------------------------------------
# Documents


def pdf(extra_objects: bytes = b"", text: bytes = b"Fiche d'exercices : les fractions") -> bytes:
    """A small, valid PDF with one page of text (a worksheet)."""
    content = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    out.write(extra_objects)
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_with_javascript(name: bytes = b"/JavaScript") -> bytes:
    return pdf(b"6 0 obj\n<< /Type /Action /S " + name + b" /JS (app.alert\\(1\\)) >>\nendobj\n")


def pdf_with_javascript_in_object_stream() -> bytes:
    """The action's dictionary inside a compressed object stream (PDF 1.5)."""
    inner = b"7 0 << /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"
    packed = zlib.compress(inner)
    return pdf(b"6 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
               + str(len(packed)).encode() + b" >>\nstream\n" + packed
               + b"\nendstream\nendobj\n")


def _zip(entries: dict[str, bytes], *, first: tuple[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        if first is not None:
            z.writestr(zipfile.ZipInfo(first[0]), first[1], compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


_DOCX_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" '
    b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
    b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Devoirs</w:t></w:r></w:p></w:body></w:document>'
)


def docx(extra: dict[str, bytes] | None = None) -> bytes:
    entries = {"[Content_Types].xml": _DOCX_TYPES, "_rels/.rels": _ROOT_RELS,
               "word/document.xml": _DOCUMENT, **(extra or {})}
    return _zip(entries)


def docm() -> bytes:
    types = _DOCX_TYPES.replace(b"wordprocessingml.document.main+xml",
                                b"ms-word.document.macroEnabled.main+xml")
    return _zip({"[Content_Types].xml": types, "_rels/.rels": _ROOT_RELS,
                 "word/document.xml": _DOCUMENT, "word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})


def docx_with_external_template() -> bytes:
    rels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships/attachedTemplate" '
            b'Target="http://192.0.2.1/t.dotm" TargetMode="External"/></Relationships>')
    return docx({"word/_rels/settings.xml.rels": rels})


def xlsx() -> bytes:
    types = _DOCX_TYPES.replace(b"/word/document.xml", b"/xl/workbook.xml").replace(
        b"wordprocessingml.document.main+xml", b"spreadsheetml.sheet.main+xml")
    return _zip({"[Content_Types].xml": types, "_rels/.rels": _ROOT_RELS,
                 "xl/workbook.xml": b"<workbook/>"})


def pptx() -> bytes:
    types = _DOCX_TYPES.replace(b"/word/document.xml", b"/ppt/presentation.xml").replace(
        b"wordprocessingml.document.main+xml", b"presentationml.presentation.main+xml")
    return _zip({"[Content_Types].xml": types, "_rels/.rels": _ROOT_RELS,
                 "ppt/presentation.xml": b"<presentation/>"})


def odt(extra: dict[str, bytes] | None = None) -> bytes:
    entries = {"content.xml": b"<office:document-content/>",
               "META-INF/manifest.xml": b"<manifest:manifest/>", **(extra or {})}
    return _zip(entries, first=("mimetype", b"application/vnd.oasis.opendocument.text"))


def plain_zip() -> bytes:
    return _zip({"devoirs.txt": b"page 12"})


def zip_with_script() -> bytes:
    return _zip({"index.html": b"<script>alert(document.cookie)</script>",
                 "run.js": b"WScript.Shell"})


# ---------------------------------------------------------------------------
# Images


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB",
                **options: object) -> bytes:
    """``fmt``: a Pillow format, or ``HEIF`` (an iPhone's HEIC, by pillow-heif)."""
    im = Image.new(mode, size, "orange" if mode in ("RGB", "RGBA") else 128)
    out = io.BytesIO()
    if fmt == "HEIF":
        pillow_heif.from_pillow(im).save(out, quality=80, **options)
    else:
        im.save(out, format=fmt, **options)
    return out.getvalue()


def animated_gif(frames: int = 3, size: tuple[int, int] = (32, 32)) -> bytes:
    images = [Image.new("RGB", size, color) for color in ("red", "green", "blue")[:frames]]
    while len(images) < frames:
        images.append(Image.new("RGB", size, (len(images) % 256, 0, 0)))
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=80,
                   loop=0, comment=b"made at 12 rue des Ecoles")
    return out.getvalue()


# ---------------------------------------------------------------------------
# Audio and video


def wav(seconds: float = 0.1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def mp3(frames: int = 10, id3: bool = True) -> bytes:
    """MPEG-1 layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each), silent."""
    header = b"\xff\xfb\x90\x00"
    frame = header + b"\x00" * (417 - 4)
    tag = b""
    if id3:
        body = b"TIT2\x00\x00\x00\x08\x00\x00\x03Dictee\x00"
        size = len(body)
        synchsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F,
                           size & 0x7F])
        tag = b"ID3\x04\x00\x00" + synchsafe + body
    return tag + frame * frames


def adts(frames: int = 5) -> bytes:
    length = 64
    header = bytes([0xFF, 0xF1, 0x50, 0x80 | ((length >> 11) & 3), (length >> 3) & 0xFF,
                    ((length & 7) << 5) | 0x1F, 0xFC])
    return (header + b"\x00" * (length - 7)) * frames


def ogg_opus() -> bytes:
    packet = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    page = (b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 4 + b"\x00" * 4
            + bytes([1, len(packet)]) + packet)
    return page


def _ebml_element(element_id: bytes, body: bytes) -> bytes:
    size = len(body)
    return element_id + bytes([0x01]) + (size | (0x00 << 56)).to_bytes(7, "big") + body


def webm(video: bool, audio: bool = True, doctype: bytes = b"webm",
         unknown_segment_size: bool = True) -> bytes:
    """An EBML header, then a Segment (of unknown size, as MediaRecorder writes
    it) holding Tracks, then one Cluster."""
    header = _ebml_element(b"\x1a\x45\xdf\xa3",
                           _ebml_element(b"\x42\x82", doctype)
                           + _ebml_element(b"\x42\x87", b"\x04"))
    entries = b""
    number = 1
    if video:
        entries += _ebml_element(b"\xae", _ebml_element(b"\xd7", bytes([number]))
                                 + _ebml_element(b"\x83", b"\x01")
                                 + _ebml_element(b"\x86", b"V_VP8"))
        number += 1
    if audio:
        entries += _ebml_element(b"\xae", _ebml_element(b"\xd7", bytes([number]))
                                 + _ebml_element(b"\x83", b"\x02")
                                 + _ebml_element(b"\x86", b"A_OPUS"))
    tracks = _ebml_element(b"\x16\x54\xae\x6b", entries)
    cluster = _ebml_element(b"\x1f\x43\xb6\x75", _ebml_element(b"\xe7", b"\x00"))
    body = tracks + cluster
    if unknown_segment_size:
        segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + body
    else:
        segment = _ebml_element(b"\x18\x53\x80\x67", body)
    return header + segment


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _trak(handler: bytes) -> bytes:
    hdlr = _box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12 + b"\x00")
    return _box(b"trak", _box(b"tkhd", b"\x00" * 84) + _box(b"mdia", _box(b"mdhd", b"\x00" * 24)
                                                           + hdlr))


def mp4(handlers: tuple[bytes, ...] = (b"vide", b"soun"), brand: bytes = b"isom",
        moov_last: bool = True) -> bytes:
    """ftyp, mdat, then moov (phones write the index last) with one trak per handler."""
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")
    moov = _box(b"moov", _box(b"mvhd", b"\x00" * 100) + b"".join(_trak(h) for h in handlers))
    mdat = _box(b"mdat", b"\x00" * 2000)
    return ftyp + (mdat + moov if moov_last else moov + mdat)


# ---------------------------------------------------------------------------
# Refused things


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 46 + b"PE\x00\x00"
OLE2_DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/me')</script></body></html>"
SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b"<script>alert(1)</script></svg>")
SVG_BARE = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
SHELL = b"#!/bin/sh\nrm -rf ~\n"
TEXT_WITH_SCRIPT = b"Bonjour\n<script>alert(1)</script>\n"
