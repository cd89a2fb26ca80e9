"""``preau serve`` raises its soft open-file limit to the hard one (every
socket is a file), and warns when that leaves room for few connections."""

from __future__ import annotations

import resource
import subprocess
import sys

PROBE = (
    "import logging, resource, sys\n"
    "logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='%(message)s')\n"
    "from preau.server.open_files import raise_open_files_limit\n"
    "print('limit', raise_open_files_limit())\n"
    "print('soft', resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
)


def run_with_soft_limit(soft: int, hard: int) -> str:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          preexec_fn=lower, timeout=60, check=True)
    return done.stdout


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = run_with_soft_limit(256, hard)
    expected = hard if hard != resource.RLIM_INFINITY else 1 << 20
    assert f"limit {expected}\n" in out
    assert f"soft {expected}\n" in out


def test_a_low_hard_limit_is_told() -> None:
    out = run_with_soft_limit(256, 512)
    assert "limit 512\n" in out
    assert "at most 512 open files" in out
    assert "LimitNOFILE" in out
