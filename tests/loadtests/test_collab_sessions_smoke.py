"""The sessions benchmark runs on a tiny scenario: every keystroke is taken
and relayed to every reader (speed is never asserted: the benchmark measures it)."""

from __future__ import annotations

import pytest

from loadtests.collab_sessions import WARMUP, main, measure


async def test_every_keystroke_reaches_every_reader() -> None:
    result = await measure(sessions=30, keystrokes=50)
    assert result.refused == 0
    assert result.delivered >= WARMUP + 50  # the join's frames besides
    assert result.us_per_keystroke > 0


def test_the_command_line_prints_one_line_per_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sessions", "1,5", "--keystrokes", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["1", "5"]
