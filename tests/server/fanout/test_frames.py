"""Our one-shot framing must be byte for byte what websockets writes for a server."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from preau.server.live.frames import text_frame


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_text_frame_matches_websockets(length: int) -> None:
    payload = ("é" * length).encode()[:length]
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert text_frame(payload) == expected
