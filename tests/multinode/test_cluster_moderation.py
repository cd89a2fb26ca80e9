"""Moderation across nodes: the teacher on node A, pupils on node B (and A).

Every rule lives in PostgreSQL and every notice crosses Redis, so what the
teacher does on one node holds at once for sockets on the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from preau_client import PreauError

from tests.multinode.cluster import Cluster, class_room, running_cluster
from tests.multinode.conftest import People

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, cluster_database_url: str, redis_server_url: str
) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster-moderation"), cluster_database_url, redis_server_url,
        size=2,
    ) as started:
        yield started


async def test_a_teacher_on_one_node_moderates_pupils_on_the_other(
    cluster: Cluster, people: People
) -> None:
    claire = await people("Claire Lefèvre", 0)
    lea = await people("Léa Martin", 1)
    hugo = await people("Hugo Bernard", 0)
    room = await class_room(claire)
    teacher = await people.connect(claire)
    pupil_b = await people.connect(lea)
    pupil_a = await people.connect(hugo)
    for conn in (teacher, pupil_b, pupil_a):
        await conn.subscribe(room)

    # Pre-moderation set on node A holds a message sent on node B...
    await teacher.request("room.policy", room=room, premoderation="pupils")
    await pupil_b.next_event("room.policy")
    txn = secrets.token_hex(8)
    sent = await pupil_b.send_message(room, "Je peux sortir ?", txn=txn)
    assert sent["held"] is True
    held = await teacher.next_event("chat.held")  # the moderator, on the other node
    assert held["id"] == sent["id"]
    # ...and approving it on node A publishes it to both nodes with the next seq.
    approved = await teacher.request("held.approve", room=room, held=sent["id"])
    [on_b] = await pupil_b.messages(room, 1)
    [on_a] = await pupil_a.messages(room, 1)
    assert (on_b["seq"], on_b["txn"]) == (on_a["seq"], txn)
    assert on_b["body"] == "Je peux sortir ?"
    assert approved["held"]["status"] == "approved"
    await teacher.request("room.policy", room=room, premoderation="off")

    # A message deleted on node A disappears live on node B.
    posted = await pupil_b.send_message(room, "message à retirer")
    await pupil_b.messages(room, 1)
    await teacher.request("chat.redact", room=room, seq=posted["seq"], reason="hors sujet")
    redaction = await pupil_b.next_event("chat.redaction")
    assert redaction["redacts"] == posted["seq"]
    history = await lea.history(room)
    [tombstone] = [m for m in history if m["seq"] == posted["seq"]]
    assert tombstone.get("redacted") is True
    assert "body" not in tombstone or not tombstone["body"]

    # A mute set on node A is enforced on node B's next send.
    await teacher.request("member.mute", room=room, person=lea.person["id"], duration_s=600)
    with pytest.raises(PreauError) as muted:
        await pupil_b.send_message(room, "chut")
    assert muted.value.code == "muted"
    await teacher.request("member.unmute", room=room, person=lea.person["id"])
    await pupil_b.send_message(room, "merci")

    # A removal on node A revokes the room on node B at once.
    await teacher.request("member.remove", room=room, person=lea.person["id"])
    revoked = await pupil_b.next_event("room.revoked", timeout=5)
    assert revoked["room"] == room
    with pytest.raises(PreauError) as refused:
        await pupil_b.send_message(room, "encore là ?")
    assert refused.value.code == "not_found"  # removed: as if it did not exist
    await teacher.request("member.readmit", room=room, person=lea.person["id"])


async def test_the_admins_kill_switch_holds_on_every_node(
    cluster: Cluster, people: People
) -> None:
    anne = await people("Anne Roux", 0)  # staff, the school's admin
    claire = await people("Claire Lefèvre", 1)
    manon = await people("Manon Robert", 1)
    room = await class_room(claire)
    school = (await anne.me())["school"]["id"]
    pupil = await people.connect(manon)  # on node B
    teacher = await people.connect(claire)
    for conn in (pupil, teacher):
        await conn.subscribe(room)

    with pytest.raises(PreauError) as not_admin:
        await claire.post(f"/api/schools/{school}/messaging", {"suspend": ["pupil"]})
    assert not_admin.value.code == "forbidden"
    state = await anne.post(f"/api/schools/{school}/messaging",
                            {"suspend": ["pupil"], "reason": "comptes piratés"})
    assert state == {"suspended": ["pupil"]}
    with pytest.raises(PreauError) as suspended:
        await pupil.send_message(room, "spam")
    assert suspended.value.code == "suspended"
    await teacher.send_message(room, "La messagerie des élèves est suspendue.")
    audit = await anne.get(f"/api/schools/{school}/audit", action="messaging.suspend")
    assert [e["action"] for e in audit["entries"]] == ["messaging.suspend"]

    assert await anne.post(f"/api/schools/{school}/messaging",
                           {"resume": ["pupil"]}) == {"suspended": []}
    await pupil.send_message(room, "merci")
