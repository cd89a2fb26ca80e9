"""The type from the bytes, against the allow-list (preau/server/attachments/sniff.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preau.server.attachments.refused import TYPE_REFUSED, FileRefused
from preau.server.attachments.sniff import Sniffed, sniff
from tests.server.attachments import samples


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def _write(data: bytes) -> Path:
        # The name says PDF whatever the bytes: it must never matter.
        path = tmp_path / "fichier.pdf"
        path.write_bytes(data)
        return path

    return _write


ACCEPTED = [
    ("pdf", samples.pdf(), "document", "application/pdf"),
    ("docx", samples.docx(), "document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xlsx", samples.xlsx(), "document",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("pptx", samples.pptx(), "document",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("odt", samples.odt(), "document", "application/vnd.oasis.opendocument.text"),
    ("utf-8 text", "Lire les pages 12 à 14, école, élève\n".encode(), "document",
     "text/plain; charset=utf-8"),
    ("windows-1252 text", "Dictée : l'été à l'école\r\n".encode("cp1252"), "document",
     "text/plain; charset=windows-1252"),
    ("text starting MZ", b"MZ est le sigle de la classe\n", "document",
     "text/plain; charset=utf-8"),
    ("jpeg", samples.image_bytes("JPEG"), "image", "image/jpeg"),
    ("png", samples.image_bytes("PNG"), "image", "image/png"),
    ("gif", samples.image_bytes("GIF"), "image", "image/gif"),
    ("webp", samples.image_bytes("WEBP"), "image", "image/webp"),
    ("heic", samples.image_bytes("HEIF"), "image", "image/heic"),
    ("avif", samples.image_bytes("AVIF"), "image", "image/avif"),
    ("wav", samples.wav(), "audio", "audio/wav"),
    ("mp3 with ID3", samples.mp3(), "audio", "audio/mpeg"),
    ("mp3 bare", samples.mp3(id3=False), "audio", "audio/mpeg"),
    ("aac adts", samples.adts(), "audio", "audio/aac"),
    ("ogg opus", samples.ogg_opus(), "audio", "audio/ogg"),
    ("webm audio", samples.webm(video=False), "audio", "audio/webm"),
    ("webm video", samples.webm(video=True), "video", "video/webm"),
    ("webm sized segment", samples.webm(video=True, unknown_segment_size=False), "video",
     "video/webm"),
    ("mp4 video", samples.mp4(), "video", "video/mp4"),
    ("mp4 moov first", samples.mp4(moov_last=False), "video", "video/mp4"),
    ("m4a", samples.mp4(handlers=(b"soun",), brand=b"M4A "), "audio", "audio/mp4"),
    ("quicktime", samples.mp4(brand=b"qt  "), "video", "video/quicktime"),
]


@pytest.mark.parametrize(("data", "kind", "mime"),
                         [pytest.param(d, k, m, id=i) for i, d, k, m in ACCEPTED])
def test_accepted(write: Callable[[bytes], Path], data: bytes, kind: str, mime: str) -> None:
    found = sniff(write(data))
    assert (found.kind, found.mime) == (kind, mime)
    assert found.extension.startswith(".")


REFUSED = [
    ("empty", b"", "empty"),
    ("elf named .pdf", samples.ELF, "ELF"),
    ("windows exe", samples.PE, "Windows"),
    ("shell script", samples.SHELL, "script"),
    ("old word", samples.OLE2_DOC, "old Office"),
    ("html", samples.HTML, "markup"),
    ("svg with script", samples.SVG, "markup"),
    ("bare svg", samples.SVG_BARE, "markup"),
    ("text with script", samples.TEXT_WITH_SCRIPT, "markup"),
    ("plain zip", samples.plain_zip(), "zip archive"),
    ("zip with script", samples.zip_with_script(), "zip archive"),
    ("docm", samples.docm(), "macros"),
    ("docx with vba part", samples.docx({"word/vbaProject.bin": b"x"}), "embedded programs"),
    ("docx with ole object", samples.docx({"word/embeddings/oleObject1.bin": b"x"}),
     "embedded programs"),
    ("docx with activex", samples.docx({"word/activeX/activeX1.xml": b"<ax/>"}),
     "embedded programs"),
    ("docx external template", samples.docx_with_external_template(), "from outside"),
    ("odt with basic macros", samples.odt({"Basic/Standard/Module1.xml": b"<m/>"}), "macros"),
    ("pdf with javascript", samples.pdf_with_javascript(), "JavaScript"),
    ("pdf with /JS escaped", samples.pdf_with_javascript(b"/J#61vaScript"), "JavaScript"),
    ("pdf with js in object stream", samples.pdf_with_javascript_in_object_stream(),
     "JavaScript"),
    ("pdf launching", samples.pdf(b"6 0 obj\n<< /S /Launch /F (cmd.exe) >>\nendobj\n"),
     "launches"),
    ("pdf with embedded file", samples.pdf(b"6 0 obj\n<< /EmbeddedFiles 7 0 R >>\nendobj\n"),
     "embedded"),
    ("webm without tracks", samples.webm(video=False, audio=False), "without audio or video"),
    ("matroska", samples.webm(video=True, doctype=b"matroska"), "Matroska"),
    ("mp4 without tracks", samples.mp4(handlers=()), "without audio or video"),
    ("heif sequence", samples.mp4(handlers=(b"pict",), brand=b"msf1"), "image sequence"),
    ("avif animation", samples.mp4(handlers=(b"pict",), brand=b"avis"), "image sequence"),
    ("heif of another kind", samples.mp4(handlers=(b"pict",), brand=b"mif1"),
     "neither HEIC nor AVIF"),
    ("tiff", samples.image_bytes("TIFF"), "TIFF"),
    ("bmp", samples.image_bytes("BMP"), "BMP"),
    ("gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip"),
    ("binary junk", bytes(range(256)) * 4, "unknown"),
    ("utf-16 text", "bonjour".encode("utf-16"), "unknown"),
    ("id3 without audio", b"ID3\x04\x00\x00\x00\x00\x00\x05abcde" + b"\x01\x02" * 100,
     "ID3"),
]


@pytest.mark.parametrize(("data", "said"), [pytest.param(d, s, id=i) for i, d, s in REFUSED])
def test_refused(write: Callable[[bytes], Path], data: bytes, said: str) -> None:
    with pytest.raises(FileRefused) as refused:
        sniff(write(data))
    assert refused.value.code == TYPE_REFUSED
    assert said in refused.value.detail


def test_zip_with_too_many_entries_is_refused_before_reading_them(
        write: Callable[[bytes], Path]) -> None:
    entries = {f"f{i}.xml": b"" for i in range(6000)}
    data = samples._zip({"[Content_Types].xml": b"wordprocessingml.document.main+xml",
                         **entries})
    with pytest.raises(FileRefused, match="too many entries"):
        sniff(write(data))


def test_truncated_files_never_crash(write: Callable[[bytes], Path]) -> None:
    """Every sample cut at a few lengths: an answer or a refusal, nothing else."""
    for _, data, _, _ in ACCEPTED:
        for cut in (1, 3, 8, 12, 30, len(data) // 2):
            try:
                found: Sniffed | str = sniff(write(data[:cut]))
            except FileRefused as refused:
                found = refused.code
            assert isinstance(found, Sniffed) or found == TYPE_REFUSED
