"""Who keeps a seat, on two in-process nodes (one store, one bus): a teacher
visiting a pupils' study group, a pupil removed from the class room, a pupil
moved to another class or gone from the school.

Waits are for events (with a bound, never a timed assertion); absence is
shown by order: a later frame on the same socket arrived, so every earlier one
did."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from preau.rtc import room as rtc
from preau.rtc.room import Controls, LobbyPolicy, Role
from preau.server.directory.model import Member
from preau.server.errors import PreauError
from preau.server.store import AuditAction
from preau.server.store.calls import CallStore
from tests.server.twonodes import Nodes, Recorder


async def event(
    recorder: Recorder, name: str, where: Callable[[dict[str, Any]], bool] = lambda f: True,
    timeout: float = 5,
) -> dict[str, Any]:
    """The first frame ``name`` (matching ``where``) not taken yet (taken:
    removed from the recorder). ``timeout`` only bounds a failing test."""
    async with asyncio.timeout(timeout):
        while True:
            for frame in recorder.frames:
                if frame.get("ev") == name and where(frame):
                    recorder.frames.remove(frame)
                    return frame
            recorder.arrived.clear()
            await recorder.arrived.wait()


async def answer(call: Awaitable[Any]) -> tuple[str, str]:
    """The refusal ``call`` must end in: (code, message)."""
    with pytest.raises(PreauError) as refused:
        await call
    return str(refused.value.code), refused.value.message


def _raise_hand(peer: str) -> Callable[[rtc.CallState, int], rtc.Outcome]:
    return lambda state, _others: rtc.set_hand(state, peer, peer, True)


def names(recorder: Recorder) -> list[str]:
    return [str(f.get("ev")) for f in recorder.frames]


async def test_a_teacher_visiting_a_pupils_study_group_leaves_and_it_goes_on(
    nodes: Nodes,
) -> None:
    lea = nodes.member(nodes.a, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    claire = nodes.member(nodes.b, "Claire Lefèvre")
    room = await nodes.room(nodes.a, "6eA")
    group = await nodes.a.calls.create(lea, room, "Exposé", [hugo.id], None)
    # Recorded with the call, for every node and after a restart.
    stored = await CallStore(nodes.b.store.engine).get(group.id)
    assert stored is not None
    assert (stored.moderated, stored.created_by) == (False, lea.id)
    assert stored.controls.end_when_no_moderator is False
    conn_l, rec_l = nodes.connect(nodes.a, lea)
    conn_h, rec_h = nodes.connect(nodes.b, hugo)
    conn_c, _ = nodes.connect(nodes.b, claire)
    _, seat_l = await nodes.a.calls.join(conn_l, group.id)
    _, seat_h = await nodes.b.calls.join(conn_h, group.id)
    _, seat_c = await nodes.b.calls.join(conn_c, group.id)
    assert seat_c.role is Role.MODERATOR
    # The visiting teacher may not make the pupils' call end on leaving.
    refused = await answer(nodes.b.calls.act(conn_c, group.id, seat_c.peer, lambda s, _o:
                                             rtc.set_controls(s, seat_c.peer, Controls(
                                                 end_when_no_moderator=True), 4)))
    assert refused[0] == "bad_request"
    await nodes.b.calls.leave(conn_c, group.id, seat_c.peer)
    left = await event(rec_l, "call.peer_left")
    assert (left["peer"], left["reason"]) == (seat_c.peer, "left")
    for person in (lea, hugo):
        seating = await nodes.a.calls.seating(group.id, person.id)
        assert seating is not None
        assert seating.state.status is rtc.Status.OPEN
    # The pupils go on: a signal from Hugo (node B) reaches Léa (node A), and
    # nothing before it on her socket said the call ended.
    await nodes.b.calls.signal(conn_h, group.id, seat_h.peer, seat_l.peer,
                               "end_of_candidates", {})
    assert (await event(rec_l, "call.signal"))["from"] == seat_h.peer
    assert "call.ended" not in names(rec_l)
    assert "call.ended" not in names(rec_h)


async def test_a_call_a_moderator_opened_ends_when_its_last_moderator_leaves(
    nodes: Nodes,
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.b, "Léa Martin")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    room = await nodes.room(nodes.a, "6eA")
    teacher, _ = nodes.connect(nodes.a, claire)
    conn_l, rec_l = nodes.connect(nodes.b, lea)
    conn_h, rec_h = nodes.connect(nodes.b, hugo)
    # A study group a teacher opened, and a class call: both are moderated.
    for people in ([lea.id, hugo.id], None):
        call = await nodes.a.calls.create(claire, room, None, people, None)
        assert call.moderated
        _, seat_t = await nodes.a.calls.join(teacher, call.id)
        await nodes.b.calls.join(conn_l, call.id)
        await nodes.b.calls.join(conn_h, call.id)
        await nodes.a.calls.leave(teacher, call.id, seat_t.peer)
        for recorder in (rec_l, rec_h):
            ended = await event(recorder, "call.ended")
            assert (ended["call"], ended["reason"]) == (call.id, "no_moderator")
        assert await nodes.b.calls.seating(call.id, lea.id) is None


async def test_a_removed_pupil_is_refused_like_an_outsider_and_cut_on_every_node(
    nodes: Nodes,
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lea = nodes.member(nodes.a, "Léa Martin")
    lucas = nodes.member(nodes.b, "Lucas Richard")
    ines = nodes.member(nodes.b, "Inès Petit")  # 6eB: no right to 6eA at all
    room = await nodes.room(nodes.a, "6eA")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    conn_l, rec_l = nodes.connect(nodes.a, lea)
    pupil, rec_p = nodes.connect(nodes.b, lucas)
    outsider, _ = nodes.connect(nodes.b, ines)
    lesson = await nodes.a.calls.create(claire, room, "Cours", None, None)
    group = await nodes.b.calls.create(lucas, room, None, [lea.id], None)
    _, seat_t = await nodes.a.calls.join(teacher, lesson.id)
    await nodes.a.calls.join(conn_l, lesson.id)
    _, in_lesson = await nodes.b.calls.join(pupil, lesson.id)
    await nodes.a.calls.join(conn_l, group.id)
    _, in_group = await nodes.b.calls.join(pupil, group.id)

    await nodes.a.moderation.moderate_member(claire, room, lucas.id,
                                             AuditAction.MEMBER_REMOVE, None)
    # Cut from both calls on his node B, and seen as gone on node A.
    cut = [await event(rec_p, "call.left") for _ in range(2)]
    assert {(c["peer"], c["reason"]) for c in cut} == {
        (in_lesson.peer, "revoked"), (in_group.peer, "revoked")}
    gone = await event(rec_t, "call.peer_left")
    assert (gone["peer"], gone["reason"]) == (in_lesson.peer, "revoked")
    assert (await event(rec_l, "call.peer_left"))["reason"] == "revoked"
    assert await nodes.a.calls.seating(lesson.id, lucas.id) is None
    assert await nodes.b.calls.seating(lesson.id, lucas.id) is None
    # Léa's group goes on without him.
    assert await nodes.a.calls.seating(group.id, lea.id) is not None

    # Every call path answers him as it answers a pupil of another class.
    for call_id in (lesson.id, group.id):
        mine = await answer(nodes.b.calls.join(pupil, call_id))
        assert mine == await answer(nodes.b.calls.join(outsider, call_id))
        assert mine == ("not_found", "no such call")
    assert await answer(nodes.b.calls.list_calls(lucas, room)) == \
        await answer(nodes.b.calls.list_calls(ines, room))
    assert await answer(nodes.b.calls.create(lucas, room, None, [lea.id], None)) == \
        await answer(nodes.b.calls.create(ines, room, None, [lea.id], None))
    never = "pNeverHeld0"
    for call_id, old in ((lesson.id, in_lesson.peer), (group.id, in_group.peer)):
        signal = await answer(nodes.b.calls.signal(
            pupil, call_id, old, seat_t.peer, "end_of_candidates", {}))
        assert signal == await answer(nodes.b.calls.signal(
            outsider, call_id, never, seat_t.peer, "end_of_candidates", {}))
        assert signal[0] == "not_in_call"
        hand = await answer(nodes.b.calls.act(pupil, call_id, old, _raise_hand(old)))
        assert hand == await answer(nodes.b.calls.act(outsider, call_id, never,
                                                      _raise_hand(never)))
        assert await answer(nodes.b.calls.leave(pupil, call_id, old)) == \
            await answer(nodes.b.calls.leave(outsider, call_id, never))
        assert nodes.b.calls.local_peer(pupil, call_id) is None
        assert await nodes.b.calls.seating_of_peer(call_id, old, lucas.id) is None

    # Re-admission restores the right.
    await nodes.a.moderation.moderate_member(claire, room, lucas.id,
                                             AuditAction.MEMBER_READMIT, None)
    _, back = await nodes.b.calls.join(pupil, lesson.id)
    assert back.admitted
    assert await event(rec_t, "call.peer_joined", lambda f: f["peer"]["peer"] == back.peer)
    assert {c.id for c in await nodes.b.calls.list_calls(lucas, room)} == {lesson.id, group.id}


async def test_a_removal_cuts_the_lobby_and_refuses_admission(nodes: Nodes) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lucas = nodes.member(nodes.b, "Lucas Richard")
    hugo = nodes.member(nodes.b, "Hugo Bernard")
    room = await nodes.room(nodes.a, "6eA")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    pupil, rec_p = nodes.connect(nodes.b, lucas)
    second, _ = nodes.connect(nodes.b, hugo)
    call = await nodes.a.calls.create(claire, room, None, None,
                                      Controls(lobby=LobbyPolicy.ASK_MODERATOR))
    _, seat_t = await nodes.a.calls.join(teacher, call.id)
    _, waiting = await nodes.b.calls.join(pupil, call.id)
    assert not waiting.admitted
    assert [w["peer"] for w in (await event(rec_t, "call.lobby"))["waiting"]] == [waiting.peer]
    await nodes.a.moderation.moderate_member(claire, room, lucas.id,
                                             AuditAction.MEMBER_REMOVE, None)
    left = await event(rec_p, "call.left")
    assert (left["peer"], left["reason"]) == (waiting.peer, "revoked")
    assert (await event(rec_t, "call.lobby"))["waiting"] == []
    admitted = await answer(nodes.a.calls.admit(teacher, call.id, seat_t.peer, waiting.peer))
    assert admitted == await answer(nodes.a.calls.admit(teacher, call.id, seat_t.peer,
                                                        "pNeverHeld0"))
    assert admitted[0] == "not_found"

    # A removal whose notice has not reached any node yet (only the store
    # knows): the admission is refused under the lock all the same, and the
    # SFU path no longer seats him.
    _, waiting = await nodes.b.calls.join(second, call.id)
    assert [w["peer"] for w in (await event(rec_t, "call.lobby"))["waiting"]] == [waiting.peer]
    now = nodes.a.clock.now_ms()
    await nodes.a.store.moderate_member(room, claire.id, hugo.id, AuditAction.MEMBER_REMOVE,
                                        None, None, now)
    refused = await answer(nodes.a.calls.admit(teacher, call.id, seat_t.peer, waiting.peer))
    assert refused == admitted
    assert await answer(nodes.b.calls.join(second, call.id)) == ("not_found", "no such call")
    # The broker's resync (after a lost connection) finds the removal in the store.
    await nodes.b.calls.resync()
    assert (await event(rec_t, "call.lobby"))["waiting"] == []


async def test_a_removed_pupils_sfu_seat_is_refused_before_the_notice_arrives(
    nodes: Nodes,
) -> None:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    lucas = nodes.member(nodes.b, "Lucas Richard")
    room = await nodes.room(nodes.a, "6eA")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    pupil, rec_p = nodes.connect(nodes.b, lucas)
    call = await nodes.a.calls.create(claire, room, None, None, Controls(force_sfu=True))
    await nodes.a.calls.join(teacher, call.id)
    _, seat = await nodes.b.calls.join(pupil, call.id)
    seating = await nodes.b.calls.seating_of_peer(call.id, seat.peer, lucas.id)
    assert seating is not None
    assert seating.sfu
    now = nodes.a.clock.now_ms()
    await nodes.a.store.moderate_member(room, claire.id, lucas.id, AuditAction.MEMBER_REMOVE,
                                        None, None, now)
    # What the sfu.* ops ask: no seat for him, read from the store.
    assert await nodes.b.calls.seating_of_peer(call.id, seat.peer, lucas.id) is None
    assert await nodes.b.calls.seating(call.id, lucas.id) is None
    await nodes.b.calls.resync()
    left = await event(rec_p, "call.left")
    assert (left["peer"], left["reason"]) == (seat.peer, "revoked")
    assert (await event(rec_t, "call.peer_left"))["peer"] == seat.peer


async def _import(nodes: Nodes, csv: str) -> None:
    from preau.server.directory.csv_import import parse_csv
    from preau.server.directory.demo import DEMO_NAME, DEMO_TIMEZONE, DEMO_UAI
    from preau.server.directory.importer import import_directory

    report = await import_directory(
        nodes.a.store, parse_csv(csv), uai=DEMO_UAI, school_name=DEMO_NAME,
        timezone=DEMO_TIMEZONE, activation_ttl_s=3600, now_ms=nodes.a.clock.now_ms())
    assert not report.errors


async def _seat_in_lesson(
    nodes: Nodes, pupil_name: str,
) -> tuple[Member, Recorder, Recorder, str, str]:
    claire = nodes.member(nodes.a, "Claire Lefèvre")
    pupil = nodes.member(nodes.b, pupil_name)
    room = await nodes.room(nodes.a, "6eA")
    teacher, rec_t = nodes.connect(nodes.a, claire)
    conn, rec_p = nodes.connect(nodes.b, pupil)
    call = await nodes.a.calls.create(claire, room, None, None, None)
    await nodes.a.calls.join(teacher, call.id)
    _, seat = await nodes.b.calls.join(conn, call.id)
    return pupil, rec_t, rec_p, call.id, seat.peer


async def test_a_class_move_cuts_the_pupil_from_the_old_class_call_on_every_node(
    nodes: Nodes,
) -> None:
    lucas, rec_t, rec_p, call_id, peer = await _seat_in_lesson(nodes, "Lucas Richard")
    await _import(nodes, "id;profile;last_name;first_name;classes\n"
                         "E006;pupil;Richard;Lucas;6eB\n")
    # The import ran on node A: A reloads and tells B (control.directory).
    await nodes.a.hub.directory_changed(lucas.school_id)
    left = await event(rec_p, "call.left")
    assert (left["peer"], left["reason"]) == (peer, "revoked")
    assert (await event(rec_t, "call.peer_left"))["peer"] == peer
    assert await nodes.a.calls.seating(call_id, lucas.id) is None
    moved, _ = nodes.connect(nodes.b, nodes.member(nodes.b, "Lucas Richard"))
    assert await answer(nodes.b.calls.join(moved, call_id)) == ("not_found", "no such call")


async def test_a_pupil_who_left_the_school_is_cut_from_the_call(nodes: Nodes) -> None:
    from preau.server.store.privacy import PrivacyStore

    lucas, rec_t, _, call_id, peer = await _seat_in_lesson(nodes, "Lucas Richard")
    view = await nodes.a.directory.school(lucas.school_id)
    assert view is not None
    present = {p.external_id for p in view.people.values() if p.id != lucas.id}
    # What a rollover does to someone no longer listed: the account closes.
    closed = await PrivacyStore(nodes.a.store.engine).close_departed(
        lucas.school_id, present, nodes.a.clock.now_ms())
    assert [person for person, _ in closed] == [lucas.id]
    await nodes.a.hub.directory_changed(lucas.school_id)
    # His socket on node B is closed by the hub (account closed); the seat
    # goes at once all the same, without waiting for the disconnection.
    gone = await event(rec_t, "call.peer_left")
    assert (gone["peer"], gone["reason"]) == (peer, "revoked")
    assert await nodes.b.calls.seating(call_id, lucas.id) is None


async def test_a_moved_pupils_seat_gets_no_news_while_its_rights_are_reread(
    nodes: Nodes,
) -> None:
    """Lucas, seated on node B, is moved to 6eB by a change made on node A.
    Until B has read the school again and re-checked its seats, Hugo joins on
    A: the news (who joined, an offer to pair) must not reach Lucas's seat on
    B (an outside probe on two nodes saw it every time). B holds its call
    frames for the re-check; Lucas is told he was revoked, and only that."""
    lucas, rec_t, rec_p, call_id, peer = await _seat_in_lesson(nodes, "Lucas Richard")
    await _import(nodes, "id;profile;last_name;first_name;classes\n"
                         "E006;pupil;Richard;Lucas;6eB\n")
    await nodes.a.directory.reload(lucas.school_id)  # node A, where the change was made
    nodes.b.calls.gate.hold()  # node B got the notice: it reads the school again
    hugo = nodes.member(nodes.a, "Hugo Bernard")
    conn_h, _ = nodes.connect(nodes.a, hugo)
    _, seat_h = await nodes.a.calls.join(conn_h, call_id)
    await event(rec_t, "call.peer_joined",  # node A tells its own at once
                lambda f: f["peer"]["peer"] == seat_h.peer)
    await nodes.b.directory.reload(lucas.school_id)  # the re-check on B, still held
    left = await event(rec_p, "call.left")
    assert (left["peer"], left["reason"]) == (peer, "revoked")
    nodes.b.calls.gate.release()
    await nodes.a.calls.act(conn_h, call_id, seat_h.peer, _raise_hand(seat_h.peer))
    # A later frame: every earlier one has arrived; and the bus carried it to B.
    await event(rec_t, "call.peer_updated", lambda f: f["peer"]["peer"] == seat_h.peer)
    await asyncio.sleep(0.05)
    assert not [f for f in rec_p.frames if f.get("ev") == "call.peer_joined"
                and f["peer"]["peer"] == seat_h.peer], rec_p.frames
    assert "call.peer_updated" not in names(rec_p)
