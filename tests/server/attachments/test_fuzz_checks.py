"""The content checks fuzzed (hypothesis): hostile bytes, and real files with
bytes flipped, cut or spliced, always get an answer — a kind or a refusal
with one of the codes — never another exception, never a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preau.server.attachments.images import FORMATS, ImageLimits, clean_image
from preau.server.attachments.refused import CODES, FileRefused
from preau.server.attachments.sniff import KINDS, Sniffed, sniff
from tests.server.attachments import samples

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SEEDS = [
    samples.pdf(), samples.pdf_with_javascript_in_object_stream(), samples.docx(),
    samples.odt(), samples.plain_zip(), samples.image_bytes("JPEG"),
    samples.image_bytes("PNG"), samples.image_bytes("GIF"), samples.image_bytes("WEBP"),
    samples.animated_gif(), samples.wav(), samples.mp3(), samples.adts(), samples.ogg_opus(),
    samples.webm(video=True), samples.webm(video=False), samples.mp4(),
    samples.mp4(brand=b"M4A ", handlers=(b"soun",)), "Dictée du jour\n".encode(),
]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real file, then a few of: bytes overwritten, a cut, a splice of random bytes."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "splice", "grow"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif action == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:  # a length field made huge
            data[at:at + 4] = b"\xff\xff\xff\x7f"
    return bytes(data)


def _answer(data: bytes) -> Sniffed | str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            return sniff(path)
        except FileRefused as refused:
            return refused.code


def _check(found: Sniffed | str) -> None:
    if isinstance(found, Sniffed):
        assert found.kind in KINDS
        assert found.mime
    else:
        assert found in CODES


@FUZZ
@given(st.binary(max_size=2048))
def test_sniff_answers_any_bytes(data: bytes) -> None:
    _check(_answer(data))


@FUZZ
@given(damaged())
def test_sniff_answers_damaged_files(data: bytes) -> None:
    _check(_answer(data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_images_answer_damaged_files(data: bytes) -> None:
    """Whatever sniff lets through as an image decodes or is refused as
    invalid or too large (Pillow's many exceptions never escape)."""
    found = _answer(data)
    if not isinstance(found, Sniffed) or found.kind != "image":
        return
    assert found.mime in FORMATS
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "upload"
        source.write_bytes(data)
        try:
            clean = clean_image(source, Path(tmp) / "clean", found.mime,
                                ImageLimits(max_pixels=4_000_000))
            outcome = (clean.width > 0, clean.height > 0, bool(clean.thumbnail))
        except FileRefused as refused:
            outcome = (refused.code in CODES,) * 3
        assert outcome == (True, True, True)
