"""Images re-encoded without metadata, oriented, bounded (preau/server/attachments/images.py)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageCms

from preau.server.attachments.images import ImageLimits, clean_image
from preau.server.attachments.refused import IMAGE_INVALID, IMAGE_TOO_LARGE, FileRefused
from tests.server.attachments import samples

SERIAL = "SN-48213377"
BODY_ID = "UNIQUE-ID-XYZ"
COMMENT = b"photo prise au 12 rue des Ecoles"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">exif:GPSLatitude 48,51.49N</x:xmpmeta>'


def photo_with_gps(fmt: str = "JPEG") -> bytes:
    """A 60 × 40 photo, left half red and right half blue, taken "rotated"
    (EXIF orientation 6: show it turned 90° clockwise), with GPS coordinates,
    a camera serial, a comment, XMP and an ICC profile."""
    im = Image.new("RGB", (60, 40), "blue")
    im.paste((255, 0, 0), (0, 0, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 2000D"
    camera = exif.get_ifd(0x8769)
    camera[0xA431] = SERIAL  # BodySerialNumber
    camera[0xA420] = BODY_ID  # ImageUniqueID
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 21.0, 7.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif, "icc_profile": icc, "xmp": XMP}
    if fmt == "JPEG":
        options["comment"] = COMMENT
    if fmt == "HEIF":  # an iPhone's photo (pillow-heif writes it)
        exif[0x0112] = 1  # HEIF turns the pixels with its own boxes, not EXIF
        pillow_heif.from_pillow(im).save(out, quality=90, exif=exif.tobytes(), xmp=XMP,
                                         icc_profile=icc)
    else:
        im.save(out, format=fmt, **options)
    data = out.getvalue()
    assert SERIAL.encode() in data  # the sample does carry them
    return data


def clean(tmp_path: Path, data: bytes, mime: str,
          limits: ImageLimits | None = None) -> tuple[bytes, Image.Image]:
    source, target = tmp_path / "upload", tmp_path / "upload.clean"
    source.write_bytes(data)
    result = clean_image(source, target, mime, limits or ImageLimits())
    stored = target.read_bytes()
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.format == "WEBP"
    assert max(thumb.size) <= 320
    assert result.thumbnail_mime == "image/webp"
    return stored, Image.open(io.BytesIO(stored))


def assert_no_metadata(stored: bytes, im: Image.Image) -> None:
    exif = im.getexif()
    assert dict(exif) == {}
    assert exif.get_ifd(0x8825) == {}  # GPS
    assert exif.get_ifd(0x8769) == {}  # camera
    for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"):
        assert key not in im.info, key
    for secret in (SERIAL.encode(), BODY_ID.encode(), COMMENT, b"xmpmeta", b"Canon",
                   b"Exif\x00\x00"):
        assert secret not in stored, secret


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp"),
                                           ("PNG", "image/png")])
def test_gps_serial_and_every_other_metadata_are_gone(tmp_path: Path, fmt: str,
                                                      mime: str) -> None:
    stored, im = clean(tmp_path, photo_with_gps(fmt), mime)
    assert im.format == fmt
    assert_no_metadata(stored, im)


@pytest.mark.parametrize(("fmt", "mime"), [("HEIF", "image/heic"), ("AVIF", "image/avif")])
def test_heic_and_avif_photos_become_jpeg_without_metadata(tmp_path: Path, fmt: str,
                                                           mime: str) -> None:
    source, target = tmp_path / "upload", tmp_path / "upload.clean"
    source.write_bytes(photo_with_gps(fmt))
    result = clean_image(source, target, mime, ImageLimits())
    assert result.mime == "image/jpeg"
    stored = target.read_bytes()
    im = Image.open(io.BytesIO(stored))
    assert im.format == "JPEG"
    assert_no_metadata(stored, im)
    # The pixels came through: red on one side, blue on the other.
    rgb = im.convert("RGB")
    sides = {rgb.getpixel((2, 2)), rgb.getpixel((im.width - 3, im.height - 3))}
    assert any(isinstance(p, tuple) and p[0] > 180 and p[2] < 90 for p in sides), sides
    assert any(isinstance(p, tuple) and p[2] > 180 and p[0] < 90 for p in sides), sides


def test_a_transparent_avif_becomes_png(tmp_path: Path) -> None:
    source, target = tmp_path / "upload", tmp_path / "upload.clean"
    out = io.BytesIO()
    Image.new("RGBA", (64, 48), (255, 128, 0, 100)).save(out, format="AVIF")
    source.write_bytes(out.getvalue())
    result = clean_image(source, target, "image/avif", ImageLimits())
    assert result.mime == "image/png"
    with Image.open(target) as stored:
        assert stored.mode == "RGBA"


def test_a_huge_heic_is_refused_before_decoding(tmp_path: Path) -> None:
    source, target = tmp_path / "upload", tmp_path / "upload.clean"
    source.write_bytes(samples.image_bytes("HEIF", size=(2000, 1000)))
    with pytest.raises(FileRefused) as refused:
        clean_image(source, target, "image/heic", ImageLimits(max_pixels=1_000_000))
    assert refused.value.code == IMAGE_TOO_LARGE


def test_orientation_is_applied_before_the_tag_goes(tmp_path: Path) -> None:
    _, im = clean(tmp_path, photo_with_gps(), "image/jpeg")
    # Orientation 6: the stored left (red) half is shown on top.
    assert im.size == (40, 60)
    rgb = im.convert("RGB")
    top, bottom = rgb.getpixel((20, 5)), rgb.getpixel((20, 55))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200
    assert top[2] < 60
    assert bottom[2] > 200
    assert bottom[0] < 60


def test_png_text_chunks_are_dropped_and_transparency_kept(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "12 rue des Ecoles")
    info.add_text("Comment", "Camille, CE2", zip=True)
    im = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    im.paste((0, 255, 0, 255), (0, 0, 10, 20))
    out = io.BytesIO()
    im.save(out, format="PNG", pnginfo=info)
    stored, cleaned = clean(tmp_path, out.getvalue(), "image/png")
    assert b"rue des Ecoles" not in stored
    assert b"Camille" not in stored
    assert not any(k in cleaned.info for k in ("Location", "Comment"))
    assert cleaned.mode == "RGBA"
    transparent = cleaned.getpixel((15, 10))
    assert isinstance(transparent, tuple)
    assert transparent[3] == 0
    assert cleaned.getpixel((2, 10)) == (0, 255, 0, 255)


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    out = io.BytesIO()
    im.save(out, format="PNG", transparency=1)
    _, cleaned = clean(tmp_path, out.getvalue(), "image/png")
    pixel = cleaned.getpixel((5, 5))
    assert isinstance(pixel, tuple)
    assert pixel[3] == 0


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    _, cleaned = clean(tmp_path, samples.image_bytes("JPEG", mode="CMYK"), "image/jpeg")
    assert cleaned.mode == "RGB"


def test_animated_gif_stays_animated_without_its_comment(tmp_path: Path) -> None:
    data = samples.animated_gif()
    assert b"rue des Ecoles" in data
    stored, cleaned = clean(tmp_path, data, "image/gif")
    assert getattr(cleaned, "n_frames", 1) == 3
    assert b"rue des Ecoles" not in stored
    assert "comment" not in cleaned.info


def test_too_many_frames_is_too_large(tmp_path: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        clean(tmp_path, samples.animated_gif(frames=5), "image/gif", ImageLimits(max_frames=4))
    assert refused.value.code == IMAGE_TOO_LARGE
    with pytest.raises(FileRefused) as refused:
        clean(tmp_path, samples.animated_gif(frames=5, size=(100, 100)), "image/gif",
              ImageLimits(max_animation_pixels=40_000))
    assert refused.value.code == IMAGE_TOO_LARGE


def test_over_the_pixel_budget_is_too_large(tmp_path: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        clean(tmp_path, samples.image_bytes("PNG", size=(2000, 1000)), "image/png",
              ImageLimits(max_pixels=1_000_000))
    assert refused.value.code == IMAGE_TOO_LARGE
    assert not (tmp_path / "upload.clean").exists()


@pytest.mark.parametrize(("data", "mime"), [
    (samples.image_bytes("JPEG")[:200], "image/jpeg"),
    (samples.image_bytes("PNG")[:60], "image/png"),
    (samples.image_bytes("PNG").replace(b"IDAT", b"IDAX"), "image/png"),
    (b"GIF89a" + b"\x00" * 30, "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "image/webp"),
    (samples.image_bytes("PNG"), "image/jpeg"),  # decoded only as what was sniffed
])
def test_damaged_images_are_invalid(tmp_path: Path, data: bytes, mime: str) -> None:
    with pytest.raises(FileRefused) as refused:
        clean(tmp_path, data, mime)
    assert refused.value.code == IMAGE_INVALID


def _png_bomb(path: Path, side: int) -> None:
    """A valid grayscale PNG of side × side px, all black: side² bytes decoded,
    a few hundred kilobytes on disk. Written row block by row block."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    rows = (b"\x00" + b"\x00" * side) * 256
    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        idat = bytearray()
        for _ in range(side // 256):
            idat += packer.compress(rows)
        idat += packer.flush()
        f.write(chunk(b"IDAT", bytes(idat)))
        f.write(chunk(b"IEND", b""))


def test_png_decompression_bomb_is_refused_without_exhausting_memory(tmp_path: Path) -> None:
    """A 1 GiB (decoded) PNG, refused from its header in a fresh process whose
    peak memory stays that of an interpreter with Pillow loaded: the pixels
    were never decoded. Then again with our budget lifted: Pillow's own bound
    (an error here, never a warning) still refuses it."""
    bomb = tmp_path / "bomb.png"
    _png_bomb(bomb, 32_768)
    assert bomb.stat().st_size < 4_000_000
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from preau.server.attachments.images import ImageLimits, clean_image
        from preau.server.attachments.refused import FileRefused
        codes = []
        for limits in (ImageLimits(), ImageLimits(max_pixels=10**10)):
            try:
                clean_image(Path({str(bomb)!r}), Path({str(tmp_path / "out")!r}),
                            "image/png", limits)
            except FileRefused as refused:
                codes.append(refused.code)
        # VmHWM: this process's peak resident memory (ru_maxrss would carry
        # the parent's, kept across exec on Linux).
        status = Path("/proc/self/status").read_text()
        peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        print(json.dumps({{"codes": codes, "peak_kib": int(peak.split()[1])}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["codes"] == [IMAGE_TOO_LARGE, IMAGE_TOO_LARGE]
    # Decoded, it would be 1 GiB; an interpreter with Pillow is ~20-40 MiB.
    assert result["peak_kib"] < 100 * 1024, result
    assert not (tmp_path / "out").exists()
