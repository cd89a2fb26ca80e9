"""The tests' private servers: a killed test run's redis-server is reaped by the next run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import RedisServer, reap_redis_orphans

pytestmark = pytest.mark.redis


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_an_orphaned_private_redis_is_killed_and_removed(tmp_path: Path) -> None:
    server = RedisServer().start()
    try:
        assert reap_redis_orphans(server._dir.parent) == 0  # its owner (us) is alive
        process = server._process
        assert process is not None
        (server._dir / "owner.pid").write_text(str(_dead_pid()))  # as after a killed run
        assert reap_redis_orphans(server._dir.parent) == 1
        assert process.wait(timeout=10) != 0
        assert not server._dir.exists()
    finally:
        server.remove()  # stopping a process that is gone is a no-op


def test_a_directory_without_an_owner_is_left_alone(tmp_path: Path) -> None:
    stray = tmp_path / "preau-redis-stray"
    stray.mkdir()
    assert reap_redis_orphans(tmp_path) == 0
    assert stray.exists()
