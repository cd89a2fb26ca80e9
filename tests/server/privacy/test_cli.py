"""``preau export``, ``preau erase`` and ``preau import --rollover`` as an
operator runs them (real processes on a SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from preau.server.directory.demo import demo_csv

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def preau(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREAU_DATA_DIR": str(tmp_path / "data"), "PREAU_SEED_DEMO": "false"}
    return subprocess.run(
        [sys.executable, "-m", "preau.server.cli", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )


def test_export_erase_and_rollover_from_the_command_line(tmp_path: Path) -> None:
    year_one = tmp_path / "year1.csv"
    year_one.write_text(demo_csv(), encoding="utf-8")
    done = preau(tmp_path, "import", str(year_one), "--school", "0000002X", "--name", "Collège")
    assert done.returncode == 0, done.stderr

    exported = preau(tmp_path, "export", "lea.martin")
    assert exported.returncode == 0, exported.stderr
    data = orjson.loads(exported.stdout)
    assert data["person"]["login"] == "lea.martin"
    assert data["memberships"]["classes"][0]["name"] == "6eA"
    assert data["memberships"]["guardians"] == ["Camille Martin"]

    erased = preau(tmp_path, "erase", "lea.martin")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.strip() == "erased"
    again = preau(tmp_path, "export", "lea.martin")
    assert again.returncode == 2
    assert "no account" in again.stderr

    # Next year: Hugo Bernard (E002) left with his parent (P002).
    lines = demo_csv().splitlines()
    year_two = tmp_path / "year2.csv"
    year_two.write_text(
        "\n".join(line for line in lines if not line.startswith(("E002;", "P002;"))) + "\n",
        encoding="utf-8",
    )
    rolled = preau(tmp_path, "import", str(year_two), "--school", "0000002X", "--rollover",
                   "--year-label", "2025-2026", "--keep-rooms-days", "30")
    assert rolled.returncode == 0, rolled.stderr
    # Two closed: Hugo and his parent. (The file still lists Léa, E001, erased
    # above: she comes back as a new account, with a new activation code.)
    assert "rollover: 2 accounts closed (left the school), 3 rooms of last year kept " \
        "read-only" in rolled.stdout
    missing = preau(tmp_path, "export", "nobody.here")
    assert missing.returncode == 2
