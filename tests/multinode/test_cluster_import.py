"""``preau import`` run beside running nodes (preau/server/cli.py): the nodes
are told over Redis, as after an import made on one of them, so a pupil moved
to another class loses the old class's room at once, not at the next poll.

The nodes poll the directory only every 10 minutes here: nothing but the
notice can explain what the test sees.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from preau_client import PreauError

from preau.server.directory.demo import DEMO_UAI
from tests.multinode.cluster import Cluster, class_room, running_cluster
from tests.multinode.conftest import People
from tests.server.twonodes import demo_with_class_move

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-import"), cluster_database_url, redis_server_url,
        size=2, env={"PREAU_DIRECTORY_POLL_S": "600"},
    ) as started:
        yield started


def preau_import(cluster: Cluster, folder: Path, rows: str) -> subprocess.CompletedProcess[str]:
    path = folder / "import.csv"
    path.write_text(rows, encoding="utf-8")
    env = {**os.environ, "PREAU_STORE_URL": cluster.store_url,
           "PREAU_BROKER_URL": cluster.broker_url, "PREAU_DATA_DIR": str(folder),
           "PREAU_SEED_DEMO": "false"}
    return subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", str(path), "--school", DEMO_UAI],
        env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_a_class_move_imported_beside_the_nodes_holds_at_once(
    cluster: Cluster, people: People, tmp_path: Path
) -> None:
    claire = await people("Claire Lefèvre", 0)
    lucas = await people("Lucas Richard", 1)
    room = await class_room(claire)
    teacher = await people.connect(claire)
    pupil = await people.connect(lucas)  # on node 1
    for conn in (teacher, pupil):
        await conn.subscribe(room)

    done = await asyncio.to_thread(
        preau_import, cluster, tmp_path, demo_with_class_move("E006", "6eA", "6eB"))
    assert done.returncode == 0, done.stdout + done.stderr
    # Told at once: the poll would take ten minutes.
    revoked = await pupil.next_event("room.revoked", timeout=5)
    assert revoked["room"] == room
    # A message posted in the old class after the import never reaches him...
    await teacher.send_message(room, "Après le changement de classe")
    with pytest.raises(TimeoutError):
        await pupil.messages(room, 1, timeout=1)
    # ...and the room answers him as one that does not exist, on both nodes.
    for node in (0, 1):
        with pytest.raises(PreauError) as refused:
            await people.on(lucas, node).history(room)
        assert refused.value.code == "not_found"
