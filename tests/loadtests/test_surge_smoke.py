"""The surge scenario runs, small (numbers: docs/benchmarks.md, "Surge"):
every socket opens, every reset one reconnects with ``since`` and gets what
it missed exactly once, and the figures render."""

from __future__ import annotations

from loadtests.surge import format_figures, run


def test_surge_scenario_small() -> None:
    figures = run(connections=120, reconnect=40, messages=2, procs=2)
    assert figures.opened == 120
    assert figures.open_failed == 0
    assert figures.reconnecting == 40
    assert figures.caught_up == 40
    assert (figures.duplicates, figures.gaps) == (0, 0)
    assert 0 < figures.kib_per_connection < 1024
    text = format_figures(figures, "python -m loadtests.surge --connections 120")
    assert "40 sockets reset at once" in text
