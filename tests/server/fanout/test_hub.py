"""The hub's delivery guarantees, with two nodes in one process and no network
(tests/server/twonodes.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.twonodes import Nodes


async def test_a_message_committed_on_one_node_reaches_the_other(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))
    await nodes.b.hub.subscribe(hugo_conn, room, None, lambda fields: None)
    for i in range(5):
        await nodes.a.chat.send(lea, room, f"t{i}", f"message {i}")
    assert await hugo.wait_for(room, 5) == [1, 2, 3, 4, 5]


async def test_a_message_lost_by_the_broker_is_filled_from_the_store(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await nodes.room(nodes.a, "6eA")
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))
    await nodes.b.hub.subscribe(hugo_conn, room, None, lambda fields: None)
    await nodes.a.chat.send(lea, room, "t1", "un")
    assert await hugo.wait_for(room, 1) == [1]

    broker = nodes.a.broker
    real_publish = broker.publish
    lost = []

    async def lossy(channel: str, payload: bytes) -> None:
        if channel.startswith("room.") and not lost:
            lost.append(payload)  # the at-most-once broker drops this one
            return
        await real_publish(channel, payload)

    monkeypatch.setattr(broker, "publish", lossy)
    await nodes.a.chat.send(lea, room, "t2", "deux")  # lost on the way to node B
    await nodes.a.chat.send(lea, room, "t3", "trois")
    assert lost
    assert await hugo.wait_for(room, 3) == [1, 2, 3]
    bodies = [f["body"] for f in hugo.frames if f.get("ev") == "chat.message"]
    assert bodies == ["un", "deux", "trois"]


async def test_out_of_order_arrivals_are_delivered_in_order_once(nodes: Nodes) -> None:
    room = await nodes.room(nodes.b, "6eB")
    ines_conn, ines = nodes.connect(nodes.b, nodes.member(nodes.b, "Inès Petit"))
    await nodes.b.hub.subscribe(ines_conn, room, None, lambda fields: None)
    inès = nodes.member(nodes.a, "Inès Petit")
    # Commit three messages on node A with the broker muted, so node B hears
    # of them only through what we hand its feed below, in a scrambled order.
    results = []
    for i in range(4):
        message, _ = await nodes.a.store.append_message(
            room, inès.id, f"x{i}", f"m{i}", f"id{i}", 0)
        results.append(message)
    feed = nodes.b.hub.feeds[room]
    frames = {m.seq: await nodes.b.chat._render.frame(m) for m in results}
    for seq in (3, 1, 3, 2, 1):
        feed.on_message(seq, frames[seq])
    assert await ines.wait_for(room, 3) == [1, 2, 3]
    # The feed delivers in seq order: once the fence (4) is in, a duplicate of
    # 1–3 handed before it would have been delivered before it.
    feed.on_message(4, frames[4])
    assert await ines.wait_for(room, 4) == [1, 2, 3, 4]


async def test_resume_while_messages_keep_arriving_has_no_gap_or_duplicate(
    nodes: Nodes,
) -> None:
    room = await nodes.room(nodes.a, "6eA")
    lea = nodes.member(nodes.a, "Léa Martin")
    for i in range(30):
        await nodes.a.chat.send(lea, room, f"before{i}", f"avant {i}")
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))

    async def keep_sending() -> None:
        for i in range(30):
            await nodes.a.chat.send(lea, room, f"during{i}", f"pendant {i}")
            await asyncio.sleep(0)

    sender = asyncio.create_task(keep_sending())
    await nodes.b.hub.subscribe(hugo_conn, room, 10, lambda fields: None)
    await sender
    assert await hugo.wait_for(room, 50) == list(range(11, 61))


async def test_a_moved_pupil_loses_the_room_on_every_node(nodes: Nodes) -> None:
    room = await nodes.room(nodes.a, "6eA")
    lucas = nodes.member(nodes.b, "Lucas Richard")
    conn, recorder = nodes.connect(nodes.b, lucas)
    await nodes.b.hub.subscribe(conn, room, None, lambda fields: None)
    school = await _move_lucas_to_6eb(nodes)
    await nodes.a.hub.directory_changed(school)  # node A tells node B
    async with asyncio.timeout(5):
        while not any(f.get("ev") == "room.revoked" for f in recorder.frames):
            recorder.arrived.clear()
            await recorder.arrived.wait()
    assert room not in conn.rooms


async def test_after_a_broker_loss_resync_catches_rooms_up_from_the_store(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await nodes.room(nodes.a, "6eA")
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))
    await nodes.b.hub.subscribe(hugo_conn, room, None, lambda fields: None)

    async def broker_down(channel: str, payload: bytes) -> None:
        return None  # every publish of node A is lost, and no later one shows a gap

    publish = nodes.a.broker.publish
    monkeypatch.setattr(nodes.a.broker, "publish", broker_down)
    for i in range(3):
        await nodes.a.chat.send(lea, room, f"lost{i}", f"perdu {i}")
    # A fence through the real bus on the same channel: once it is in, any
    # publish made before it would have been delivered.
    monkeypatch.setattr(nodes.a.broker, "publish", publish)
    await nodes.a.hub.publish_ephemeral(room, b'{"ev":"fence"}')
    async with asyncio.timeout(5):
        while not any(f.get("ev") == "fence" for f in hugo.frames):
            hugo.arrived.clear()
            await hugo.arrived.wait()
    assert hugo.seqs(room) == []
    await nodes.b.hub.resync()  # what a broker calls once its connection is back
    assert await hugo.wait_for(room, 3) == [1, 2, 3]


async def test_presence_changes_are_coalesced_per_room(nodes: Nodes) -> None:
    """A room's first arrival is announced at once; those that follow within
    the window leave together in one frame (``people``), on both nodes."""
    room = await nodes.room(nodes.a, "6eA")
    found = await nodes.a.directory.room(room)
    assert found is not None
    view = next(iter(nodes.a.directory._schools.values()))
    pupils = [m for m in view.members.values()
              if found.class_id in m.classes and m.profile.value == "pupil"]
    assert len(pupils) >= 3
    watcher_conn, watcher = nodes.connect(nodes.b, pupils[0])
    await nodes.b.hub.subscribe(watcher_conn, room, None, lambda fields: None)
    for pupil in pupils[1:]:
        conn, _ = nodes.connect(nodes.a, pupil)
        await nodes.a.hub.subscribe(conn, room, None, lambda fields: None)

    def joins() -> list[dict[str, object]]:  # node A's, about the others
        return [f for f in watcher.frames if f.get("ev") == "presence.join"
                and f.get("person") != {"id": pupils[0].id, "name": pupils[0].display_name}]

    async with asyncio.timeout(5):
        while sum(len(f.get("people", [f.get("person")])) for f in joins()  # type: ignore[arg-type]
                  ) < len(pupils) - 1:
            watcher.arrived.clear()
            await watcher.arrived.wait()
    first, *rest = joins()
    assert first["person"] == {"id": pupils[1].id, "name": pupils[1].display_name}
    assert len(rest) == 1  # all the others, together
    assert rest[0]["people"] == [{"id": p.id, "name": p.display_name} for p in pupils[2:]]


async def _move_lucas_to_6eb(nodes: Nodes) -> str:
    """Lucas moved from 6eA to 6eB in the store (by node A's import); returns the school."""
    from preau.server.directory.csv_import import parse_csv
    from preau.server.directory.importer import import_directory

    report = await import_directory(
        nodes.a.store, parse_csv("id;profile;last_name;first_name;classes\n"
                                 "E006;pupil;Richard;Lucas;6eB\n"),
        uai="0000001D", school_name="Collège du Préau (démo)", timezone="Europe/Paris",
        activation_ttl_s=60, now_ms=0)
    assert not report.errors
    return report.school.id


async def test_messages_wait_while_a_change_is_reread_and_reach_only_who_keeps_the_room(
    nodes: Nodes,
) -> None:
    """A change made on node A reaches node B as a notice; until B has read
    the school again and re-checked its sockets, what is posted on A must not
    reach a socket on B whose room the change took away (an outside probe:
    a moved teacher's socket got the next message, 3 runs in 14). B's chat
    relays wait for the re-check, then go, in order, to whoever kept the room."""
    room = await nodes.room(nodes.a, "6eA")
    lucas_conn, lucas = nodes.connect(nodes.b, nodes.member(nodes.b, "Lucas Richard"))
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))
    for conn in (lucas_conn, hugo_conn):
        await nodes.b.hub.subscribe(conn, room, None, lambda fields: None)
    school = await _move_lucas_to_6eb(nodes)
    await nodes.a.directory.reload(school)  # node A, where the change was made
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    nodes.b.hub.gate.hold()  # node B got the notice: it reads the school again
    for i in range(3):
        await nodes.a.chat.send(claire, room, f"after{i}", f"après le changement {i}")
    await nodes.a.hub.publish_ephemeral(room, b'{"ev":"chat.typing"}')
    await asyncio.sleep(0.05)  # the bus carried them to B, which holds them
    assert hugo.seqs(room) == []
    await nodes.b.directory.reload(school)  # the re-check on B, still held
    assert any(f.get("ev") == "room.revoked" for f in lucas.frames)
    nodes.b.hub.gate.release()
    assert await hugo.wait_for(room, 3) == [1, 2, 3]
    assert any(f.get("ev") == "chat.typing" for f in hugo.frames)
    assert lucas.seqs(room) == []
    assert not any(f.get("ev") == "chat.typing" for f in lucas.frames)


async def test_after_a_broker_loss_rights_are_reread_before_rooms_catch_up(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a broker outage node A moves Lucas to 6eB and Claire posts in
    6eA; node B heard neither. B's resync must take the room from Lucas's
    socket before catching 6eA up from the store (an outside probe: the moved
    pupil got the old class's messages, 4 runs in 4)."""
    room = await nodes.room(nodes.a, "6eA")
    lucas_conn, lucas = nodes.connect(nodes.b, nodes.member(nodes.b, "Lucas Richard"))
    hugo_conn, hugo = nodes.connect(nodes.b, nodes.member(nodes.b, "Hugo Bernard"))
    for conn in (lucas_conn, hugo_conn):
        await nodes.b.hub.subscribe(conn, room, None, lambda fields: None)

    async def broker_down(channel: str, payload: bytes) -> None:
        return None  # the outage: node A's notices and messages are lost

    monkeypatch.setattr(nodes.a.broker, "publish", broker_down)
    school = await _move_lucas_to_6eb(nodes)
    await nodes.a.hub.directory_changed(school)
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    for i in range(3):
        await nodes.a.chat.send(claire, room, f"during{i}", f"pendant la panne {i}")
    # What a broker calls once its connection is back (without the relays'
    # hold the broker adds around it: the order alone must be right).
    await nodes.b.hub.resync()
    assert await hugo.wait_for(room, 3) == [1, 2, 3]
    assert any(f.get("ev") == "room.revoked" for f in lucas.frames)
    assert lucas.seqs(room) == []
