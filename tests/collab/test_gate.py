"""The relay gate: nested holds, deferred flushes run in order at the last release;
a relayer's held deliveries (``HeldRelays``) go in order, once, at the release."""

from __future__ import annotations

from preau.collab.gate import HeldRelays, RelayGate


def test_flushes_wait_for_the_last_release_and_run_in_order() -> None:
    gate, ran = RelayGate(), []
    assert not gate.held
    gate.hold()
    gate.hold()  # two reloads overlap
    gate.defer(lambda: ran.append("documents"))
    gate.defer(lambda: ran.append("calls"))
    gate.release()
    assert gate.held
    assert ran == []
    gate.release()
    assert not gate.held
    assert ran == ["documents", "calls"]
    gate.release()  # an extra release neither goes negative nor runs them again
    gate.hold()
    assert gate.held
    assert ran == ["documents", "calls"]


def test_a_flush_deferred_by_a_flush_runs_at_the_next_release() -> None:
    gate, ran = RelayGate(), []
    gate.hold()

    def first() -> None:
        ran.append(1)
        gate.hold()
        gate.defer(lambda: ran.append(2))

    gate.defer(first)
    gate.release()
    assert ran == [1]
    gate.release()
    assert ran == [1, 2]


def test_held_relays_pass_through_an_open_gate_and_wait_for_a_held_one() -> None:
    gate, ran = RelayGate(), []
    chat, documents = HeldRelays(gate), HeldRelays(gate)
    assert not chat.held_back(lambda: ran.append("never"))  # open: the caller delivers
    gate.hold()
    assert chat.held_back(lambda: ran.append("chat 1"))
    assert documents.held_back(lambda: ran.append("document 1"))
    assert chat.held_back(lambda: ran.append("chat 2"))
    assert ran == []
    gate.release()
    # Each relayer's deliveries in their order, the relayers in the order they first held.
    assert ran == ["chat 1", "chat 2", "document 1"]
    gate.hold()
    gate.release()  # nothing kept: nothing runs again
    assert ran == ["chat 1", "chat 2", "document 1"]


def test_a_delivery_kept_over_overlapping_holds_runs_once_at_the_last_release() -> None:
    gate, ran = RelayGate(), []
    relays = HeldRelays(gate)
    gate.hold()

    def deliver() -> None:
        # As RoomFeed._broadcast does: it asks again when it runs.
        if not relays.held_back(deliver):
            ran.append("delivered")

    relays.held_back(deliver)
    gate.hold()  # a second reload begins before the first ends
    gate.release()
    assert ran == []
    gate.release()
    assert ran == ["delivered"]
