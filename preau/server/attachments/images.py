"""Images decoded within a pixel budget, oriented, re-encoded without metadata,
and thumbnailed (Pillow).

Why re-encode rather than strip: a photo of a child can say where it was taken
(EXIF GPS), with which camera (serial numbers in maker notes), by whom (XMP,
IPTC, comments), and more in places a stripper must know of (MPF, ICC
descriptions, PNG text chunks, GIF comments). Decoding to pixels and writing
a new file of the same format keeps only the pixels: nothing else crosses.

- The size is read from the header and checked against the budget *before*
  any pixel is decoded (a PNG of 40 000 × 40 000 px is 4.8 GB decoded but a
  few MB on the wire): refused with ``attachment.image_too_large``. Pillow's
  own decompression-bomb warning is an error here too.
- The EXIF orientation is applied to the pixels first (the tag is then gone
  with the rest), so a phone's portrait photo stays upright.
- Colours: an embedded ICC profile is applied (converted to sRGB) and not
  kept: wide-gamut phone photos keep their colours, and profiles' free-text
  fields go.
- Animations (GIF, animated WebP and PNG): kept animated, every frame redrawn
  from its pixels, within a frame count and a budget for all frames' pixels
  (docs/attachments.md, "Images").
- HEIC (iPhones' photos) and AVIF: decoded, then written as JPEG (PNG with
  transparency), which every browser shows; their sequences are refused.
- The thumbnail: at most 320 px on its longer side, WebP.

Blocking and CPU-bound: the caller runs it off the event loop (inspect.py).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pillow_heif
from PIL import Image, ImageCms, ImageOps, ImageSequence

from preau.server.attachments.refused import IMAGE_INVALID, IMAGE_TOO_LARGE, FileRefused

log = logging.getLogger(__name__)

THUMBNAIL_MIME: Final = "image/webp"

# The Pillow format of each accepted type: the decoder is chosen from the
# sniffed type, never guessed again by Pillow.
FORMATS: Final = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/avif": "AVIF",  # Pillow's own decoder (libavif)
    "image/heic": "HEIF",  # pillow-heif's (libheif, libde265)
}
# Decoded, then written as what every browser shows: JPEG, or PNG when the
# picture has transparency (an iPhone's HEIC photo becomes a JPEG).
CONVERTED: Final = frozenset({"AVIF", "HEIF"})

pillow_heif.register_heif_opener()  # the "HEIF" format for Image.open


@dataclass(frozen=True)
class ImageLimits:
    """Budgets for one image (settings: PREAU_ATTACHMENT_* through inspect.py)."""

    max_pixels: int = 50_000_000  # one frame; a 50 Mpx phone photo passes
    max_frames: int = 500
    max_animation_pixels: int = 40_000_000  # every frame together (held decoded)
    thumbnail_px: int = 320


@dataclass(frozen=True)
class CleanImage:
    mime: str
    width: int
    height: int
    frames: int
    thumbnail: bytes
    thumbnail_mime: str


def clean_image(source: Path, target: Path, mime: str, limits: ImageLimits) -> CleanImage:
    """Write ``source`` (sniffed as ``mime``) to ``target`` re-encoded without
    metadata; raise :class:`FileRefused` if it is too large or unreadable."""
    fmt = FORMATS.get(mime)
    if fmt is None:
        raise FileRefused(IMAGE_INVALID, f"not an accepted image type: {mime}")
    with warnings.catch_warnings():
        # Pillow warns past its own bound: never decode such an image.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source, formats=[fmt]) as im:
                return _clean(im, target, mime, fmt, limits)
        except FileRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise FileRefused(IMAGE_TOO_LARGE, f"image too large: {exc}") from None
        except Exception as exc:
            # Decoders of hostile input fail in many ways (OSError, SyntaxError,
            # ValueError, struct.error...): each is a damaged image, not a crash.
            log.info("image refused as unreadable: %s: %s", type(exc).__name__, exc)
            raise FileRefused(IMAGE_INVALID, "damaged or unreadable image") from None


def _clean(im: Image.Image, target: Path, mime: str, fmt: str,
           limits: ImageLimits) -> CleanImage:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise FileRefused(IMAGE_INVALID, "image without pixels")
    if width * height > limits.max_pixels:
        raise FileRefused(
            IMAGE_TOO_LARGE,
            f"image of {width} × {height} px: at most {limits.max_pixels // 1_000_000} Mpx")
    frames = getattr(im, "n_frames", 1) if fmt not in ("JPEG", *CONVERTED) else 1
    if frames > 1:
        if frames > limits.max_frames or frames * width * height > limits.max_animation_pixels:
            raise FileRefused(IMAGE_TOO_LARGE,
                              f"animation of {frames} frames of {width} × {height} px: too large")
        return _clean_animation(im, target, mime, fmt, frames, limits)
    im.load()
    oriented = ImageOps.exif_transpose(im)
    if fmt in CONVERTED:
        transparent = oriented.has_transparency_data
        fmt, mime = ("PNG", "image/png") if transparent else ("JPEG", "image/jpeg")
    clean = _pixels_only(oriented, fmt)
    clean.save(target, format=fmt, **_save_options(fmt))
    return CleanImage(mime, clean.width, clean.height, 1, _thumbnail(clean, limits),
                      THUMBNAIL_MIME)


def _clean_animation(im: Image.Image, target: Path, mime: str, fmt: str, frames: int,
                     limits: ImageLimits) -> CleanImage:
    images: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(im):
        frame.load()
        durations.append(int(frame.info.get("duration", 100) or 100))
        rgba = frame.convert("RGBA")
        rgba.info = {}
        images.append(rgba)
    first = images[0]
    options: dict[str, object] = {"save_all": True, "append_images": images[1:],
                                  "duration": durations, "loop": 0}
    if fmt == "GIF":
        options["disposal"] = 2
    elif fmt == "WEBP":
        options["quality"] = 85
    first.save(target, format=fmt, **options)
    return CleanImage(mime, first.width, first.height, frames, _thumbnail(first, limits),
                      THUMBNAIL_MIME)


def _pixels_only(im: Image.Image, fmt: str) -> Image.Image:
    """The pixels in a mode the format writes, in sRGB, with no info left."""
    icc = im.info.get("icc_profile")
    if "transparency" in im.info or im.mode in ("PA", "RGBa", "La"):
        im = im.convert("RGBA")
    elif im.mode == "P":
        im = im.convert("RGB")
    if im.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        # CMYK, YCbCr, 16-bit and float modes: 8-bit RGB(A) for the web.
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    if fmt == "JPEG" and im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    if icc and im.mode in ("RGB", "RGBA"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"),
                                                  outputMode=im.mode)
            if converted is not None:
                im = converted
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            log.info("image colour profile not applied: %s", exc)
    if im.mode == "1":
        im = im.convert("L")
    im.info = {}
    return im


def _save_options(fmt: str) -> dict[str, object]:
    if fmt == "JPEG":
        return {"quality": 88}
    if fmt == "WEBP":
        return {"quality": 85}
    return {}


def _thumbnail(im: Image.Image, limits: ImageLimits) -> bytes:
    thumb = im.convert("RGBA" if im.mode in ("LA", "RGBA", "P") else "RGB")
    thumb.thumbnail((limits.thumbnail_px, limits.thumbnail_px), Image.Resampling.LANCZOS)
    thumb.info = {}
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=80)
    return out.getvalue()
