"""The one entry point of the checks, with a real clamd (preau/server/attachments/inspect.py)."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from preau.server.attachments import inspect as inspect_module
from preau.server.attachments.inspect import (
    FileRefused,
    InspectLimits,
    declared_kind,
    inspect_upload,
    rescan,
    safe_name,
)
from preau.server.attachments.refused import (
    IMAGE_TOO_LARGE,
    INFECTED,
    NAME_INVALID,
    TYPE_MISMATCH,
    TYPE_REFUSED,
)
from preau.server.attachments.scanning import ClamdScanner, Scanner
from tests.server.attachments import samples
from tests.server.attachments.clamd import EICAR, private_clamd
from tests.server.attachments.test_images import SERIAL, assert_no_metadata, photo_with_gps

ALL = frozenset({"document", "image", "audio", "video"})


def left_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def upload(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload-1234"
    path.write_bytes(data)
    return path


async def check(path: Path, scanner: Scanner | None, *, name: str = "fichier",
                declared: str | None = None, kinds: frozenset[str] = ALL,
                limits: InspectLimits | None = None) -> inspect_module.Inspected:
    return await inspect_upload(path, declared_name=name, declared_type=declared,
                                allowed_kinds=kinds, scanner=scanner,
                                limits=limits or InspectLimits())


async def test_a_clean_worksheet_is_accepted(clamd_address: str, tmp_path: Path) -> None:
    data = samples.pdf()
    path = upload(tmp_path, data)
    found = await check(path, ClamdScanner(clamd_address), name="Fiche fractions.pdf",
                        declared="application/pdf")
    assert (found.kind, found.mime, found.scan) == ("document", "application/pdf", "clean")
    assert found.content_path == path
    assert (found.size, found.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert found.thumbnail is None
    assert found.width is None


async def test_eicar_is_refused_as_infected(clamd_address: str, tmp_path: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        await check(upload(tmp_path, EICAR), ClamdScanner(clamd_address), name="devoirs.txt",
                    declared="text/plain")
    assert refused.value.code == INFECTED
    assert refused.value.signature is not None
    assert refused.value.signature.startswith("Eicar-Test-Signature")


async def test_a_photo_is_stored_clean_oriented_and_thumbnailed(clamd_address: str,
                                                               tmp_path: Path) -> None:
    path = upload(tmp_path, photo_with_gps())
    found = await check(path, ClamdScanner(clamd_address), name="sortie.jpg",
                        declared="image/jpeg")
    assert (found.kind, found.mime, found.scan) == ("image", "image/jpeg", "clean")
    assert found.content_path != path
    assert found.content_path.parent == path.parent
    stored = found.content_path.read_bytes()
    assert_no_metadata(stored, Image.open(io.BytesIO(stored)))
    assert SERIAL.encode() not in stored
    assert (found.width, found.height) == (40, 60)
    assert found.size == len(stored)
    assert found.sha256 == hashlib.sha256(stored).hexdigest()
    assert found.thumbnail is not None
    assert found.thumbnail_mime == "image/webp"
    assert Image.open(io.BytesIO(found.thumbnail)).format == "WEBP"


async def test_an_iphone_heic_photo_is_stored_as_jpeg(clamd_address: str,
                                                     tmp_path: Path) -> None:
    path = upload(tmp_path, photo_with_gps("HEIF"))
    found = await check(path, ClamdScanner(clamd_address), name="IMG_0042.HEIC",
                        declared="image/heic")
    assert (found.kind, found.mime, found.extension, found.scan) == (
        "image", "image/jpeg", ".jpg", "clean")
    stored = found.content_path.read_bytes()
    with Image.open(io.BytesIO(stored)) as im:
        assert im.format == "JPEG"
        assert_no_metadata(stored, im)
    # Offered for download under a name that says what it now is.
    assert safe_name("IMG_0042.HEIC", found.mime, found.extension) == "IMG_0042.HEIC.jpg"


async def test_scanner_down_holds_the_file_pending_then_rescan_releases_it(
        tmp_path: Path) -> None:
    pdf = upload(tmp_path, samples.pdf())
    with private_clamd(start=False) as clamd:
        scanner = ClamdScanner(clamd.unix_address, connect_timeout=2)
        found = await check(pdf, scanner, name="fiche.pdf")
        assert found.scan == "pending"
        eicar = tmp_path / "eicar"
        eicar.write_bytes(EICAR)
        held = await check(eicar, scanner, name="note.txt")
        assert held.scan == "pending"  # not scanned yet: held, not let through

        clamd.start()  # the scanner is back
        assert await rescan(found.content_path, scanner) == "clean"
        with pytest.raises(FileRefused) as refused:
            await rescan(held.content_path, scanner)
        assert refused.value.code == INFECTED


async def test_no_scanner_is_pending_never_clean(tmp_path: Path) -> None:
    found = await check(upload(tmp_path, samples.pdf()), None)
    assert found.scan == "pending"
    assert await rescan(found.content_path, None) == "pending"


async def test_a_failing_scanner_is_pending(tmp_path: Path) -> None:
    class Broken:
        async def scan(self, path: Path) -> object:
            raise RuntimeError("bug in a scanner")

    found = await check(upload(tmp_path, samples.pdf()), Broken())  # type: ignore[arg-type]
    assert found.scan == "pending"


@pytest.mark.parametrize(("data", "name", "declared", "code"), [
    (samples.ELF, "fiche.pdf", "application/pdf", TYPE_REFUSED),
    (samples.SVG, "dessin.svg", "image/svg+xml", TYPE_REFUSED),
    (samples.HTML, "page.html", "text/html", TYPE_REFUSED),
    (samples.zip_with_script(), "devoirs.zip", "application/zip", TYPE_REFUSED),
    (samples.docm(), "devoirs.docm", None, TYPE_REFUSED),
    (samples.pdf(), "photo.png", "image/png", TYPE_MISMATCH),
    (samples.image_bytes("JPEG"), "fiche.pdf", "application/pdf", TYPE_MISMATCH),
    (samples.mp3(), "video.mp4", "image/jpeg", TYPE_MISMATCH),
])
async def test_refusals(tmp_path: Path, data: bytes, name: str, declared: str | None,
                        code: str) -> None:
    with pytest.raises(FileRefused) as refused:
        await check(upload(tmp_path, data), None, name=name, declared=declared)
    assert refused.value.code == code
    assert left_in(tmp_path) == ["upload-1234"]


@pytest.mark.parametrize(("data", "declared"), [
    (samples.image_bytes("PNG"), "image/jpeg"),  # same kind: the bytes decide
    (samples.webm(video=True), "audio/webm"),  # audio and video: a container says little
    (samples.pdf(), "application/octet-stream"),
    (samples.pdf(), None),
    (samples.pdf(), ""),
    (b"notes\n", "text/csv"),
])
async def test_declared_types_that_do_not_matter(tmp_path: Path, data: bytes,
                                                 declared: str | None) -> None:
    await check(upload(tmp_path, data), None, declared=declared)


async def test_kinds_not_allowed_here_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        await check(upload(tmp_path, samples.image_bytes("PNG")), None,
                    kinds=frozenset({"document"}))
    assert refused.value.code == TYPE_REFUSED


async def test_a_refused_image_leaves_no_file_behind(tmp_path: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        await check(upload(tmp_path, samples.image_bytes("PNG", size=(300, 300))), None,
                    limits=InspectLimits(max_pixels=10_000))
    assert refused.value.code == IMAGE_TOO_LARGE
    assert left_in(tmp_path) == ["upload-1234"]


async def test_checks_run_off_the_event_loop(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []
    for name in ("sniff", "clean_image", "_digest"):
        real = getattr(inspect_module, name)

        def spy(*args: object, _real: object = real, _name: str = name) -> object:
            seen.append((_name, threading.get_ident()))
            return _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(inspect_module, name, spy)
    await check(upload(tmp_path, photo_with_gps()), None)
    assert [name for name, _ in seen] == ["sniff", "clean_image", "_digest"]
    assert all(thread != loop_thread for _, thread in seen)


@pytest.mark.parametrize("name", [
    "", "   ", ".", "..", "../../etc/passwd", "dossier/fiche.pdf", "C:\\fiche.pdf",
    "fiche\x00.pdf", "fiche\n.pdf", "fiche\x7f.pdf", "\u202egnp.exe", "a\u2066b.pdf",
    "é" * 128 + ".pdf", "\udcff.pdf",
])
async def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileRefused) as refused:
        await check(upload(tmp_path, samples.pdf()), None, name=name)
    assert refused.value.code == NAME_INVALID


def test_safe_names() -> None:
    assert safe_name("  Fiche de révision.pdf ") == "Fiche de révision.pdf"
    assert safe_name("e\u0301cole.pdf") == "école.pdf"  # NFC
    assert safe_name("مدرسة.pdf") == "مدرسة.pdf"
    assert safe_name("devoir.exe", "image/jpeg", ".jpg") == "devoir.exe.jpg"
    assert safe_name("photo.JPEG", "image/jpeg", ".jpg") == "photo.JPEG"
    assert safe_name("photo", "image/png", ".png") == "photo.png"
    assert safe_name("liste.csv", "text/plain; charset=utf-8", ".txt") == "liste.csv"
    assert safe_name("fiche.pdf.exe", "application/pdf", ".pdf") == "fiche.pdf.exe.pdf"
    long = "a" * 254 + ".x"
    assert len(safe_name(long[:255], "application/pdf", ".pdf").encode()) == 255


@pytest.mark.parametrize(("declared", "kind"), [
    ("image/jpeg", "image"), ("IMAGE/PNG; q=1", "image"), ("audio/webm;codecs=opus", "audio"),
    ("video/mp4", "video"), ("application/pdf", "document"), ("text/plain", "document"),
    ("application/vnd.oasis.opendocument.text", "document"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    ("application/octet-stream", None), ("", None), (None, None), ("application/zip", None),
])
def test_declared_kinds(declared: str | None, kind: str | None) -> None:
    assert declared_kind(declared) == kind
