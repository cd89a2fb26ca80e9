"""Attachments across nodes: two ``preau serve`` processes on one PostgreSQL
and one Redis, a real clamd, the bytes in the database (the default there).

A file uploaded through node A is sent, shown and served by node B; deleted
by a moderator on node B, it is refused on every node at once; a pending file
uploaded on a node without a scanner is released by the other node's scan
and both nodes' sockets are told. The demo school: Léa Martin and Hugo
Bernard are pupils of 6eA, Claire Lefèvre teaches it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preau.server.store.factory import open_engine
from tests.multinode.cluster import Cluster, class_room, running_cluster, wait_until
from tests.multinode.conftest import People
from tests.server.attachments import clamd, samples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clamd_address() -> Iterator[str]:
    """A real clamd (tests/server/attachments/clamd.py) for the module."""
    with clamd.clamd_address() as address:
        yield address


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str,
    clamd_address: str,
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-attachments"), cluster_database_url, redis_server_url,
        size=2, env={"PREAU_ATTACHMENT_CLAMD": clamd_address,
                     "PREAU_ATTACHMENT_RESCAN_S": "0.2"},
    ) as started:
        yield started


async def test_uploaded_on_one_node_served_by_the_other(cluster: Cluster, people: People) -> None:
    claire = await people("Claire Lefèvre", 0)
    lea = await people("Léa Martin", 1)
    hugo_b = await people("Hugo Bernard", 1)
    room = await class_room(claire)
    pdf = samples.pdf(text=b"Fiche multi-noeuds")
    sheet = (await claire.upload("fiche.pdf", pdf, "application/pdf"))["attachment"]
    assert sheet["state"] == "ready"
    pupil = await people.connect(lea)
    await pupil.subscribe(room)
    teacher = await people.connect(claire)
    sent = await teacher.send_message(room, "", attachments=[sheet["id"]])
    event = await pupil.next_event("chat.message")
    assert (event["seq"], [a["id"] for a in event["attachments"]]) == (sent["seq"], [sheet["id"]])
    # Served by node B, whole and by range.
    path = f"/api/attachments/{sheet['id']}"
    got = await lea.http.get(path)
    assert (got.status_code, got.content) == (200, pdf)
    part = await hugo_b.http.get(path, headers={"range": "bytes=0-3"})
    assert (part.status_code, part.content) == (206, b"%PDF")
    # Claire deletes the message through node B: refused on every node at once.
    claire_b = people.on(claire, 1)
    await claire_b.post(f"/api/rooms/{room}/messages/{sent['seq']}/redact", {"reason": "erreur"})
    for client in (lea, people.on(lea, 0), claire, claire_b):
        response = await client.http.get(path)
        assert response.status_code == 404, response.text


async def test_a_pending_file_is_released_by_a_scan_on_any_node(
    cluster: Cluster, people: People
) -> None:
    # As a node whose clamd was down would: the file is recorded pending
    # (not due yet), sent, then due: whichever node claims it scans it.
    claire = await people("Claire Lefèvre", 1)
    lea = await people("Léa Martin", 0)
    room = await class_room(claire)
    pdf = samples.pdf(text=b"en attente")
    sheet = (await claire.upload("attente.pdf", pdf, "application/pdf"))["attachment"]
    await execute(cluster, "UPDATE attachments SET state = 'pending', scan_after_ms = $2"
                  " WHERE id = $1", sheet["id"], 2**62)
    pupil = await people.connect(lea)
    await pupil.subscribe(room)
    teacher = await people.connect(claire)
    await teacher.send_message(room, "", attachments=[sheet["id"]])
    event = await pupil.next_event("chat.message")
    assert event["attachments"][0]["state"] == "pending"
    path = f"/api/attachments/{sheet['id']}"
    waiting = await lea.http.get(path)
    assert (waiting.status_code, waiting.json()["error"]["code"]) == (409, "attachment.pending")
    await execute(cluster, "UPDATE attachments SET scan_after_ms = 0 WHERE id = $1", sheet["id"])
    state = await pupil.next_event("attachment.state", timeout=15)
    assert state == {"ev": "attachment.state", "id": sheet["id"], "state": "ready"}

    async def served() -> bool:
        return (await lea.http.get(path)).status_code == 200

    await wait_until(served, 10)
    [entry] = [m for m in await lea.history(room) if m.get("attachments")
               and m["attachments"][0]["id"] == sheet["id"]]
    assert entry["attachments"][0]["state"] == "ready"


async def execute(cluster: Cluster, sql: str, *args: object) -> None:
    """One statement on the cluster's database (to set a file up as pending)."""
    engine = await open_engine(cluster.store_url)
    try:
        async with engine.transaction() as tx:
            await tx.execute(sql, *args)
    finally:
        await engine.close()
