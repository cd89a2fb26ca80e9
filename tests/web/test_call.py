"""Two browsers join a study call and each receives the other's video.

Runs tests/web/call_scenario.py inside a network namespace this test creates
(loopback only), so WebRTC's candidates and media never leave it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.needs import missing
from tests.server.live import ROOT


@contextlib.contextmanager
def loopback_namespace() -> Iterator[str]:
    name = f"preau-web-{os.getpid() % 100000}-{secrets.token_hex(2)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True,
                       capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def test_two_browsers_in_a_study_call_see_each_other(
    tmp_path: Path, shots: Path, web_dist: Path
) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing("a network namespace needs root and iproute2 (ip)")
    with loopback_namespace() as ns:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.web.call_scenario",
             str(tmp_path / "server"), str(shots)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            # pytest's pythonpath setting, for the child interpreter.
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "clients" / "python"), str(ROOT)])},
        )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    # Each browser decoded the other's fake camera, and names the other's tile.
    assert result["lea"] >= 15
    assert result["hugo"] >= 15
    assert any("Hugo Bernard" in t for t in result["lea_sees"])
    assert any("Léa Martin" in t for t in result["hugo_sees"])
    # Admitted from the teacher's waiting room, Léa receives the teacher's video.
    assert result["admitted_sees_teacher"] >= 5
    # Breakout rooms: the two pupils met in theirs, then everyone came back.
    assert result["back_from_breakouts"] is True
