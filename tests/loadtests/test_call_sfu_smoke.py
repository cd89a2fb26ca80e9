"""The SFU load scenario runs end to end with two viewers (loadtests/call_sfu.py).

Speed is not asserted (measured by the scenario itself on a quiet machine):
only that every figure is produced and can be written to docs/benchmarks.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests.call_sfu import BEGIN, END, run, write_docs
from tests.needs import missing
from tests.rtc.janus.harness import janus_missing_reason

pytestmark = pytest.mark.slow


def test_two_viewers_through_janus_report_every_figure(tmp_path: Path) -> None:
    reason = janus_missing_reason()
    if reason is not None:
        missing(f"the SFU scenario needs Janus in a network namespace: {reason}")
    results = run([2], window=2.0, settle=1.0, command="python -m loadtests.call_sfu --smoke")
    assert [s.viewers for s in results.steps] == [2]
    step = results.steps[0]
    assert step.median_fps > 0  # frames went through Janus to the viewers
    assert all(math.isfinite(x) for x in (step.min_fps, step.janus_cpu, step.viewers_cpu))
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written text\n")
    write_docs(doc, results)
    write_docs(doc, results)  # replaced, not appended twice
    text = doc.read_text()
    assert text.count(BEGIN) == 1
    assert text.count(END) == 1
    assert "hand-written text" in text
    assert "| 2 |" in text
