"""A class call in SFU mode: three browsers through a real Janus, each
receiving the two others' video. Runs tests/web/sfu_scenario.py inside a
network namespace with Janus (tests/rtc/janus/harness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.needs import missing
from tests.rtc.janus.harness import janus_in, janus_missing_reason, network_namespace
from tests.server.live import ROOT


def test_three_browsers_in_a_class_call_through_the_sfu(
    tmp_path: Path, shots: Path, web_dist: Path
) -> None:
    reason = janus_missing_reason()
    if reason is not None:
        missing(f"needs Janus in a network namespace: {reason}")
    args = {"data": str(tmp_path / "server"), "shots": str(shots)}
    with network_namespace() as ns, janus_in(ns, tmp_path) as janus:
        done = subprocess.run(
            ns.command(sys.executable, "-m", "tests.web.sfu_scenario",
                       json.dumps({**args, "janus": janus.url, "secret": janus.secret})),
            cwd=ROOT, capture_output=True, text=True, timeout=150,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "clients" / "python"), str(ROOT)])},
        )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    for who, others in (("teacher", ("Léa Martin", "Hugo Bernard")),
                        ("lea", ("Claire Lefèvre", "Hugo Bernard")),
                        ("hugo", ("Claire Lefèvre", "Léa Martin"))):
        frames = report[who]
        assert sorted(frames) == sorted(others), frames
        assert all(n >= 10 for n in frames.values()), (who, frames)
